package session

import (
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"
)

// RedisOptions turns PORTAL_REDIS_URL into client options for a
// UniversalClient, which is a plain client, a Sentinel failover client or
// a Cluster client depending on them:
//
//	redis://[user:pass@]host:6379/0                          one server
//	redis://host1:6379?addr=host2:6379&addr=host3:6379        Cluster (seed nodes)
//	redis://sentinel1:26379?addr=sentinel2:26379&master_name=mymaster   Sentinel
//	redis://host1:6379?cluster=true                           Cluster from one seed
//
// (NewRedisClient also recognises a Cluster node given alone.)
//
// rediss:// uses TLS. The timeouts make calls fail fast while Redis is
// down (requests fail closed); the client reconnects by itself. Use
// NewRedisClient for a client that also rides out failovers.
func RedisOptions(rawURL string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	q := u.Query()
	extra, master, cluster := q["addr"], q.Get("master_name"), q.Get("cluster")
	q.Del("addr")
	q.Del("master_name")
	q.Del("cluster")
	if cluster != "" && cluster != "true" && cluster != "false" {
		return nil, fmt.Errorf("cluster=%q: want true or false", cluster)
	}
	u.RawQuery = q.Encode()
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, err
	}
	return &redis.UniversalOptions{
		Addrs: append([]string{opt.Addr}, extra...), MasterName: master, DB: opt.DB,
		Username: opt.Username, Password: opt.Password, TLSConfig: opt.TLSConfig,
		IsClusterMode: cluster == "true",
		DialTimeout:   DialTimeout, ReadTimeout: IOTimeout, WriteTimeout: IOTimeout, PoolTimeout: DialTimeout,
		MaxRetries: 1, DialerRetries: 1,
	}, nil
}
