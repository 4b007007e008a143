package restarter

import (
	"strings"

	"github.com/streamha/streamha/lambdas/ecsapi"
)

// Causes of a stop, as recorded in the ledger.
const (
	CauseFenced        = "fenced"          // our alarm handler stopped it
	CauseUser          = "user"            // someone called StopTask
	CauseDeployment    = "deployment"      // the scheduler replaced it in a deployment
	CauseScaleIn       = "scale_in"        // the scheduler removed it
	CauseScheduler     = "scheduler"       // another scheduler decision
	CauseUnhealthy     = "unhealthy"       // failed container or load balancer health checks
	CausePlatform      = "platform"        // Spot interruption or host termination
	CauseFailedToStart = "failed_to_start" // never started
	CauseCrash         = "crash"           // the essential container exited non-zero
	CauseExited        = "exited"          // the essential container exited with 0
	CauseUnknown       = "unknown"
)

// Classify tells an expected stop (deployment, scale-in, our own fencing, a human) from an
// unexpected one, and names the cause.
func Classify(d TaskDetail) (expected bool, cause string) {
	reason := strings.ToLower(d.StoppedReason)
	switch d.StopCode {
	case "UserInitiated":
		if strings.HasPrefix(d.StoppedReason, ecsapi.FenceReasonPrefix) {
			return true, CauseFenced
		}
		return true, CauseUser
	case "ServiceSchedulerInitiated":
		switch {
		case strings.Contains(reason, "health check"):
			return false, CauseUnhealthy
		case strings.Contains(reason, "scale-in") || strings.Contains(reason, "scale in") || strings.Contains(reason, "desired count"):
			return true, CauseScaleIn
		case strings.Contains(reason, "deployment"):
			return true, CauseDeployment
		}
		return true, CauseScheduler
	case "SpotInterruption", "TerminationNotice":
		return false, CausePlatform
	case "TaskFailedToStart":
		return false, CauseFailedToStart
	case "EssentialContainerExited":
		for _, c := range d.ExitCodes() {
			if c != 0 {
				return false, CauseCrash
			}
		}
		return false, CauseExited
	}
	return false, CauseUnknown
}

// CountsTowardCrashLoop reports whether an unexpected stop of this cause suggests the node
// itself is broken (platform interruptions do not).
func CountsTowardCrashLoop(expected bool, cause string) bool {
	return !expected && cause != CausePlatform
}
