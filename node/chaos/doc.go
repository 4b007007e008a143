// Package chaos is a bounded, Jepsen-style fault suite for a two-node streamha pair on a
// throwaway PostgreSQL.
//
// A Harness starts the pair with a TCP fault proxy (internal/faultproxy) between each node and
// the database and in front of each node's sync port (advertised with --sync_advertise), drives
// numbered events through whichever node is active, and injects faults from a seeded schedule:
// SIGKILL or SIGSTOP of the active, SIGKILL of the passive, a PostgreSQL restart, a cut of the
// active↔passive or active↔database link, and a planned switchover. A Recorder polls ha_lease
// and every node's /ha/active meanwhile. Check then judges the run: acknowledged events lost,
// duplicates by output id, events applied twice, terms strictly increasing, acknowledgements
// from a node after another node was granted a newer term, time without an active per fault, and
// per fault the longest stretch without an acknowledgement, which must stay within a bound
// (Config.MaxAckGap) however quickly the pair recovers.
//
// With Config.Source = SourceKafka the load is a producer writing numbered records to an
// in-process Kafka cluster (kfake) that an app consumes with @source(type='kafka') and writes
// back with the transactional Kafka sink; a read_committed reader of the output topic judges:
// every record the broker committed has an output, no input offset applied twice, no output
// of a deposed term after its successor's, and the ack gaps measured on output arrivals.
package chaos
