package restarter

import "github.com/streamha/streamha/lambdas/emf"

// Metric names the restarter publishes.
const (
	MetricCrashLoop         = "CrashLoop"         // 1 while automatic restarts are halted by a crash loop
	MetricNodeStops         = "NodeStops"         // one per stop event
	MetricUnexpectedStops   = "UnexpectedStops"   // one per unexpected stop
	MetricForcedDeployments = "ForcedDeployments" // UpdateService calls with ForceNewDeployment
	dimClusterGroup         = "ClusterGroup"
)

var groupDims = [][]string{{dimClusterGroup}}

// Metrics lists every metric the restarter publishes with its unit and dimension sets.
func Metrics() []emf.MetricSpec {
	return []emf.MetricSpec{
		{Name: MetricCrashLoop, Unit: emf.Count, Dimensions: groupDims},
		{Name: MetricNodeStops, Unit: emf.Count, Dimensions: groupDims},
		{Name: MetricUnexpectedStops, Unit: emf.Count, Dimensions: groupDims},
		{Name: MetricForcedDeployments, Unit: emf.Count, Dimensions: groupDims},
	}
}

func record(group string, crashLoop bool, unexpected bool, forced bool) emf.Record {
	return emf.Record{
		Dimensions:    map[string]string{dimClusterGroup: group},
		DimensionSets: groupDims,
		Metrics: []emf.Metric{
			{Name: MetricCrashLoop, Unit: emf.Count, Value: b2f(crashLoop)},
			{Name: MetricNodeStops, Unit: emf.Count, Value: 1},
			{Name: MetricUnexpectedStops, Unit: emf.Count, Value: b2f(unexpected)},
			{Name: MetricForcedDeployments, Unit: emf.Count, Value: b2f(forced)},
		},
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
