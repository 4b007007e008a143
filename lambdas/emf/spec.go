package emf

// MetricSpec declares a metric a function publishes: its name, unit and every dimension set it is
// published under. The SAM template's alarms are cross-checked against these.
type MetricSpec struct {
	Name       string
	Unit       string
	Dimensions [][]string
}
