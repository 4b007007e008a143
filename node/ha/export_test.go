package ha

// SetIdemWindowSize makes nodes started afterwards remember n idempotency keys per app; the
// returned function restores the size.
func SetIdemWindowSize(n int) (restore func()) {
	old := idemWindowSize
	idemWindowSize = n
	return func() { idemWindowSize = old }
}

// SetChainLimits sets after how many deltas a chain is compacted and the most deltas before a
// base is forced; the returned function restores them.
func SetChainLimits(compactAfter, maxDeltas int) (restore func()) {
	oc, om := chainCompactAfter, chainMaxDeltas
	chainCompactAfter, chainMaxDeltas = compactAfter, maxDeltas
	return func() { chainCompactAfter, chainMaxDeltas = oc, om }
}

// LockApp holds app's lock, as a long batch apply or a full snapshot's capture does, until the
// returned function is called.
func LockApp(n *Node, app string) (unlock func()) {
	a := n.byName[app]
	a.mu.Lock()
	return a.mu.Unlock
}
