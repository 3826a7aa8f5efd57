package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestSlot(t *testing.T) {
	// The Cluster specification's example: CRC16("123456789") = 0x31C3.
	if got := Slot("123456789"); got != 0x31C3 {
		t.Fatalf("Slot(123456789) = %d, want %d", got, 0x31C3)
	}
	if Slot("a{user1000}b") != Slot("user1000") || Slot("x{}y") != Slot("x{}y") {
		t.Fatal("hash tags are not honoured")
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, ClusterOptions{})
	shards := c.Shards()
	if len(shards) != 3 {
		t.Fatalf("%d shards, want 3", len(shards))
	}
	served := 0
	for _, sh := range shards {
		if sh.Master == nil || len(sh.Replicas) != 1 || sh.Replicas[0] == nil {
			t.Fatalf("shard %+v: want a known master and one replica", sh)
		}
		for _, r := range sh.Slots {
			served += r[1] - r[0] + 1
		}
	}
	if served != 16384 {
		t.Fatalf("%d slots served", served)
	}
	// Slot agrees with the server, and a key lands on its slot's master.
	cl := c.Client()
	ctx := t.Context()
	for i := range 20 {
		key := fmt.Sprintf("k%d:{t%d}", i, i*7)
		n, err := cl.ClusterKeySlot(ctx, key).Result()
		if err != nil || int(n) != Slot(key) {
			t.Fatalf("CLUSTER KEYSLOT %s = %d, %v; Slot = %d", key, n, err, Slot(key))
		}
		if err := cl.Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		m := c.MasterOf(Slot(key)).Client()
		if v, err := m.Get(ctx, key).Result(); err != nil || v != "v" {
			t.Fatalf("key %s not on its slot's master: %q, %v", key, v, err)
		}
	}
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	s := StartSentinel(t, 1, time.Second)
	if got := s.MasterAddr(); got != s.Master.Addr {
		t.Fatalf("sentinels name %s as master, want %s", got, s.Master.Addr)
	}
	opt, err := redis.ParseURL("redis://" + s.Sentinels[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.Name,
		SentinelAddrs: []string{opt.Addr, s.Sentinels[1].Addr, s.Sentinels[2].Addr}})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Master.Client().Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("write did not reach the master: %q, %v", v, err)
	}
}
