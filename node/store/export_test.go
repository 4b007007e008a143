package store

// SetAfterFenceHook makes d's SaveSnapshot call f inside its transaction, right after the fence
// statement, so a test can freeze a snapshot writer while it holds the fence row's lock.
func SetAfterFenceHook(d *DB, f func()) { d.afterFence = f }

// SetAfterChunkHook makes d's chunked snapshot writes call f after each chunk commits (n chunks
// written so far), so a test can stop a writer in the middle of a chunked write.
func SetAfterChunkHook(d *DB, f func(n int)) { d.afterChunk = f }
