package mail_test

import (
	"testing"
	"time"

	"github.com/clientportal/portal/internal/mail"
)

func TestBackoffCeiling(t *testing.T) {
	base, maxDelay := 5*time.Second, 15*time.Minute
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 900, 900}
	for i, w := range want {
		if got := mail.BackoffCeiling(i+1, base, maxDelay); got != w*time.Second {
			t.Errorf("ceiling(%d) = %v, want %v", i+1, got, w*time.Second)
		}
	}
	// Huge attempt counts neither overflow nor pass the cap.
	for _, a := range []int{0, 62, 63, 64, 1000, 1 << 30} {
		if got := mail.BackoffCeiling(a, base, maxDelay); got <= 0 || got > maxDelay {
			t.Errorf("ceiling(%d) = %v", a, got)
		}
	}
	if got := mail.BackoffCeiling(100, time.Second, time.Duration(1<<62)); got != time.Duration(1<<62) {
		t.Errorf("near-overflow cap: %v", got)
	}
}

func TestBackoffJitter(t *testing.T) {
	base, maxDelay := 5*time.Second, 15*time.Minute
	for attempt := 1; attempt <= 12; attempt++ {
		ceiling := mail.BackoffCeiling(attempt, base, maxDelay)
		var lo, hi time.Duration = maxDelay, 0
		for range 2000 {
			d := mail.Backoff(attempt, base, maxDelay)
			if d < 0 || d > ceiling {
				t.Fatalf("Backoff(%d) = %v, outside [0, %v]", attempt, d, ceiling)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Full jitter spreads over the whole range.
		if lo > ceiling/10 || hi < ceiling*9/10 {
			t.Errorf("attempt %d: samples in [%v, %v], want spread over [0, %v]", attempt, lo, hi, ceiling)
		}
	}
}
