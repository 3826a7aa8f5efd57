package session

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestRedisOptions(t *testing.T) {
	cases := []struct {
		url    string
		addrs  []string
		master string
		db     int
		user   string
		pass   string
		tls    bool
		client string // the UniversalClient it makes
	}{
		{"redis://127.0.0.1:6379/2", []string{"127.0.0.1:6379"}, "", 2, "", "", false, "*redis.Client"},
		{"rediss://u:p%40ss@cache.example.com:6380", []string{"cache.example.com:6380"}, "", 0, "u", "p@ss", true, "*redis.Client"},
		{"redis://n1:7000?addr=n2:7000&addr=n3:7000", []string{"n1:7000", "n2:7000", "n3:7000"}, "", 0, "", "", false, "*redis.ClusterClient"},
		{"redis://s1:26379?addr=s2:26379&master_name=mymaster", []string{"s1:26379", "s2:26379"}, "mymaster", 0, "", "", false, "*redis.Client"},
		{"redis://n1:7000?cluster=true", []string{"n1:7000"}, "", 0, "", "", false, "*redis.ClusterClient"},
	}
	for _, c := range cases {
		o, err := RedisOptions(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if len(o.Addrs) != len(c.addrs) || o.MasterName != c.master || o.DB != c.db || o.Username != c.user || o.Password != c.pass || (o.TLSConfig != nil) != c.tls {
			t.Errorf("%s: %+v", c.url, o)
		}
		for i := range c.addrs {
			if o.Addrs[i] != c.addrs[i] {
				t.Errorf("%s: addrs %v, want %v", c.url, o.Addrs, c.addrs)
			}
		}
		client := redis.NewUniversalClient(o)
		if got := typeName(client); got != c.client {
			t.Errorf("%s: makes a %s, want %s", c.url, got, c.client)
		}
		client.Close()
	}
	for _, bad := range []string{"redis://host:6379?bogus=1", "redis://host:notaport", "://", "redis://n1:7000?cluster=yes"} {
		if _, err := RedisOptions(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	case *redis.Client:
		return "*redis.Client"
	}
	return "other"
}
