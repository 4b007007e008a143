package dynalitetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/streamha/streamha/internal/dynalitetest"
)

func TestStartAnswers(t *testing.T) {
	s := dynalitetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
