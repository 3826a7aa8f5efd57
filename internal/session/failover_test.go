package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clientportal/portal/internal/redistest"
)

// TestTransient: the failures the failover hook retries are the ones that
// say a server is away (for now), not answers.
func TestTransient(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := testRedis(t)
	prefix := testPrefix(t, client)
	client.Set(ctx, prefix+"str", "x", time.Minute)
	wrongType := client.HGet(ctx, prefix+"str", "f").Err()
	nothing := client.Get(ctx, prefix+"missing").Err()

	dead := redis.NewClient(&redis.Options{Addr: freeAddr(t), MaxRetries: -1, DialerRetries: 1})
	defer dead.Close()
	refused := dead.Ping(ctx).Err()

	// A replica refuses writes with READONLY, as a demoted master does
	// until the clients have moved on.
	master := redistest.StartServer(t)
	replica := redistest.StartServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port()))
	readOnly := replica.Client().Set(ctx, "k", "v", 0).Err()

	// A server that is no Cluster node, given alone, makes a plain client.
	plain, err := NewRedisClient(testRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, ok := plain.(*redis.Client); !ok {
		t.Errorf("a plain server makes a %T", plain)
	}

	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"refused dial", refused, true},
		{"wrapped refused dial", fmt.Errorf("x: %w", refused), true},
		{"READONLY", readOnly, true},
		{"EOF", io.EOF, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"nil", nil, false},
		{"redis.Nil", nothing, false},
		{"WRONGTYPE", wrongType, false},
		{"cancelled", context.Canceled, false},
		{"other", errors.New("something else"), false},
	} {
		if c.err == nil && c.want {
			t.Fatalf("%s: no error to classify", c.name)
		}
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%s: %v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

func TestRedisLogger(t *testing.T) {
	var buf strings.Builder
	l := RedisLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	l.Printf(context.Background(), "dial %s: %d", "n1:6379", 3)
	if got := buf.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, `detail="dial n1:6379: 3"`) {
		t.Fatalf("logged %q", got)
	}
}
