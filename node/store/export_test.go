package store

// SetAfterFenceHook makes d's SaveSnapshot call f inside its transaction, right after the fence
// statement, so a test can freeze a snapshot writer while it holds the fence row's lock.
func SetAfterFenceHook(d *DB, f func()) { d.afterFence = f }
