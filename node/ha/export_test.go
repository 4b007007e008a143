package ha

// SetIdemWindowSize makes nodes started afterwards remember n idempotency keys per app; the
// returned function restores the size.
func SetIdemWindowSize(n int) (restore func()) {
	old := idemWindowSize
	idemWindowSize = n
	return func() { idemWindowSize = old }
}
