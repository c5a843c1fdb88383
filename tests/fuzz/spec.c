/* spec.c - fuzzes the service specs people write in stack.lua, through the
 * real loader (dsl_load: the prelude's checks) and then the C code that
 * reads what the loader accepted (svc_parse_port of engine/svc_spec.c,
 * the volume split of its svc_spec_build, and logs_parse_since of
 * engine/logs.c, declared in engine/up_int.h; linked, not included):
 * whatever the DSL accepts must come out of C as it was meant. Input: a selector byte, then the spec:
 *   0 a port ("IP:HOST:CONTAINER/proto"), 1 a volume ("src:/dst:ro"),
 *   2 a duration string (health interval), 3 a duration as a number
 *   (8 bytes, a double), 4 a stop_timeout string, 5 a retries count
 *   (8 bytes, an integer), 6 `logs --since` (C only). */
#include "fuzz.h"

#include <math.h>

#include "../../engine/up_int.h"
#include "graphbuild/dsl.h"

/* s as a Lua string literal of decimal escapes: nothing can break out. */
static void lua_lit(struct buf *b, const uint8_t *s, size_t n)
{
	size_t i;

	buf_addc(b, '"');
	for (i = 0; i < n; i++)
		buf_printf(b, "\\%u", s[i]);
	buf_addc(b, '"');
}

static int port_ok(int p)
{
	return p >= 1 && p <= 65535;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b = {0};
	struct dsl_opts o = {0};
	struct stack *s;
	struct node *n;
	char *file;
	int sel;
	double d = 0;
	long long ll = 0;

	if (size < 1)
		return 0;
	sel = data[0] % 7;
	data++;
	size--;
	if (sel == 6) {
		char *str = fz_str(data, size);
		long v = logs_parse_since(str);

		FZ_ASSERT(v >= -1);
		free(str);
		return 0;
	}
	if (sel == 3 || sel == 5) {
		if (size < 8)
			return 0;
		memcpy(sel == 3 ? (void *)&d : (void *)&ll, data, 8);
	}
	buf_adds(&b, "service \"s\" {\n  image = \"busybox\",\n");
	switch (sel) {
	case 0:
		buf_adds(&b, "  ports = { ");
		lua_lit(&b, data, size);
		buf_adds(&b, " },\n");
		break;
	case 1:
		buf_adds(&b, "  volumes = { ");
		lua_lit(&b, data, size);
		buf_adds(&b, " },\n");
		break;
	case 2:
		buf_adds(&b, "  health = tcp { port = 1, interval = ");
		lua_lit(&b, data, size);
		buf_adds(&b, " },\n");
		break;
	case 3:
		if (isnan(d))
			buf_adds(&b, "  health = tcp { port = 1, interval = 0/0 },\n");
		else if (isinf(d))
			buf_printf(&b, "  health = tcp { port = 1, interval = %s1/0 },\n", d < 0 ? "-" : "");
		else
			buf_printf(&b, "  health = tcp { port = 1, interval = %a },\n", d);
		break;
	case 4:
		buf_adds(&b, "  stop_timeout = ");
		lua_lit(&b, data, size);
		buf_adds(&b, ",\n");
		break;
	case 5:
		buf_printf(&b, "  health = tcp { port = 1, retries = %s%lld },\n",
		           ll == INT64_MIN ? "-9223372036854775807 - " : "", ll == INT64_MIN ? 1LL : ll);
		break;
	}
	buf_adds(&b, "}\n");
	file = path_join(fz_tmpdir(), "stack.lua");
	fz_write(file, b.data, b.len);
	buf_free(&b);
	o.file = file;
	s = dsl_load(&o);
	free(file);
	if (!s)
		return 0;
	n = graph_service(s, "s");
	FZ_ASSERT(n != NULL);
	if (sel == 0) {
		struct docker_port p;
		char *copy;

		FZ_ASSERT(n->u.service.ports.n == 1);
		copy = xstrdup(n->u.service.ports.v[0]);
		svc_parse_port(copy, &p);
		FZ_ASSERT(port_ok(p.container_port));
		FZ_ASSERT(p.host_port == 0 || port_ok(p.host_port));
		FZ_ASSERT(!p.proto || !strcmp(p.proto, "tcp") || !strcmp(p.proto, "udp"));
		FZ_ASSERT(!p.host_ip || (*p.host_ip && !strchr(p.host_ip, '[') && !strchr(p.host_ip, ']')));
		free(copy);
	} else if (sel == 1) {
		const char *v, *dst;

		FZ_ASSERT(n->u.service.volumes.n == 1);
		v = n->u.service.volumes.v[0];
		dst = strchr(v, ':'); /* what svc_spec_build splits on */
		FZ_ASSERT(dst && dst > v && dst[1] == '/');
	} else if (sel == 2 || sel == 3) {
		FZ_ASSERT(n->u.service.health.interval_ms >= 0);
		if (sel == 3)
			FZ_ASSERT(fabs(d * 1000 - n->u.service.health.interval_ms) <= 1);
	} else if (sel == 4) {
		FZ_ASSERT(n->u.service.stop_timeout >= 0);
	} else if (sel == 5) {
		FZ_ASSERT(ll >= 1 && n->u.service.health.retries == ll);
	}
	dsl_free(s);
	return 0;
}
