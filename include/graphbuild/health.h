/* health.h - service readiness probes run by graphbuild on the loop: tcp
 * (connect to the container's address), http (HTTP/1.0 GET, status line),
 * exec (through the engine's exec API), log (POSIX regex over the container's
 * output). Attempts start at once, then every max(25 ms, elapsed/20) capped
 * at the probe's interval; each is bounded by its timeout; failures before
 * start_period do not count, after it `retries` consecutive failures make the
 * service unhealthy. When the engine is remote (health_via), tcp and http
 * attempts run inside the container through the exec API instead (same
 * schedule, same verdicts): tcp looks for a listening socket in
 * /proc/net/tcp{,6} with grep, http runs curl or wget. */
#ifndef GRAPHBUILD_HEALTH_H
#define GRAPHBUILD_HEALTH_H

struct uv_loop_s;
struct docker;
struct probe;
struct health;

/* Called exactly once (unless health_cancel came first): ok 1 healthy, 0 not;
 * msg says what the last attempt saw ("connect 172.18.0.2:80: connection
 * refused", "http status 500, expected 200"). */
typedef void (*health_cb)(void *arg, int ok, const char *msg);

/* How tcp and http probes reach a container. */
enum health_via { HEALTH_DIRECT, HEALTH_EXEC };
/* For containers of engine d: GRAPHBUILD_PROBES=direct|exec forces one; unset,
 * empty or "auto": HEALTH_EXEC when the engine is remote (docker_remote), else
 * HEALTH_DIRECT. *why: a static phrase for messages ("the engine is remote",
 * "GRAPHBUILD_PROBES=exec"). -1 for any other value, *why saying so. */
int health_via(const struct docker *d, const char **why);

/* Starts probing container id (ip: its address on the project network, needed
 * by direct tcp/http, the target of http run inside the container (NULL:
 * 127.0.0.1); unused otherwise). The probe is copied. Returns the prober, which
 * owns itself and is freed once it reported (or was cancelled) and everything
 * it started has ended. NULL (cb never called) with *err (malloc'd): a bad
 * regex, direct tcp/http without an address, a bad GRAPHBUILD_PROBES. */
struct health *health_start(struct uv_loop_s *loop, struct docker *d, const struct probe *p,
                            const char *id, const char *ip, health_cb cb, void *arg, char **err);
/* Stops probing; cb is not called after this. Safe only before cb ran. */
void health_cancel(struct health *h);
/* "tcp 5432", "http :8000/health", "exec pg_isready", "log \"ready\"" (static buffer). */
const char *health_describe(const struct probe *p);

#endif
