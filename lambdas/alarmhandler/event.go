package alarmhandler

import (
	"encoding/json"
	"fmt"
)

// AlarmDetail is the detail of an EventBridge "CloudWatch Alarm State Change" event. Only the
// fields we read are declared; unknown ones are ignored, so new fields never break decoding.
type AlarmDetail struct {
	AlarmName     string      `json:"alarmName"`
	State         AlarmState  `json:"state"`
	PreviousState AlarmState  `json:"previousState"`
	Configuration AlarmConfig `json:"configuration"`
}

// AlarmState is one state of the alarm.
type AlarmState struct {
	Value     string `json:"value"` // OK | ALARM | INSUFFICIENT_DATA
	Reason    string `json:"reason"`
	Timestamp string `json:"timestamp"`
}

// AlarmConfig is the alarm's configuration as the event carries it.
type AlarmConfig struct {
	Description string        `json:"description"`
	Metrics     []AlarmMetric `json:"metrics"`
}

// AlarmMetric is one metric (or expression) of the alarm.
type AlarmMetric struct {
	ID         string `json:"id"`
	Expression string `json:"expression"`
	MetricStat *struct {
		Metric struct {
			Namespace  string            `json:"namespace"`
			Name       string            `json:"name"`
			Dimensions map[string]string `json:"dimensions"`
		} `json:"metric"`
		Period int    `json:"period"`
		Stat   string `json:"stat"`
	} `json:"metricStat"`
}

// Alarm states.
const (
	StateAlarm        = "ALARM"
	StateOK           = "OK"
	StateInsufficient = "INSUFFICIENT_DATA"
)

// ParseDetail decodes the detail leniently.
func ParseDetail(raw json.RawMessage) (AlarmDetail, error) {
	var d AlarmDetail
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("decode alarm state change detail: %w", err)
	}
	return d, nil
}

// Subject is the metric an alarm watches and the group it names: what the handler decides by.
type Subject struct {
	Namespace string
	Metric    string
	Group     string
}

// Subject returns the first metric of the alarm in namespace (any namespace when empty) that
// carries a ClusterGroup dimension, falling back to the first metric with a name at all.
func (d AlarmDetail) Subject(namespace string) (Subject, bool) {
	var fallback *Subject
	for _, m := range d.Configuration.Metrics {
		if m.MetricStat == nil || m.MetricStat.Metric.Name == "" {
			continue
		}
		met := m.MetricStat.Metric
		if namespace != "" && met.Namespace != namespace {
			continue
		}
		s := Subject{Namespace: met.Namespace, Metric: met.Name, Group: met.Dimensions["ClusterGroup"]}
		if s.Group != "" {
			return s, true
		}
		if fallback == nil {
			fallback = &s
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return Subject{}, false
}
