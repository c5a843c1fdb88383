/* url.c - the one loopback rule (http_is_loopback: where plain HTTP is
 * allowed, for registries and module imports alike) and the one URL escape
 * (http_escape: what every engine and registry query goes through). */
#include <stdlib.h>
#include <string.h>

#include "graphbuild/http.h"
#include "graphbuild/util.h"

#include "tap.h"

static int lo(const char *h)
{
	return http_is_loopback(h, strlen(h));
}

static int escapes(const char *in, const char *want)
{
	struct buf b = {0};
	int ok;

	buf_adds(&b, "");
	http_escape(&b, in);
	ok = !strcmp(b.data, want);
	buf_free(&b);
	return ok;
}

int main(void)
{
	http_global_init();
	T("loopback: localhost, any case", lo("localhost") && lo("LocalHost"));
	T("loopback: 127.0.0.1 and the rest of 127/8", lo("127.0.0.1") && lo("127.1.2.3"));
	T("loopback: ::1 bare and bracketed", lo("::1") && lo("[::1]"));
	T("not loopback: another address", !lo("10.0.0.1") && !lo("128.0.0.1") && !lo("::2"));
	T("not loopback: a name that starts like one", !lo("127.0.0.1.example.com") && !lo("localhost.evil"));
	T("not loopback: shorthand, empty, port attached", !lo("127.1") && !lo("") && !lo("127.0.0.1:5000"));
	T("not loopback: a length-limited prefix", http_is_loopback("127.0.0.1x", 9) && !http_is_loopback("localhostx", 10));
	T("escape: unreserved kept", escapes("Az09-._~", "Az09-._~"));
	T("escape: everything else percent-encoded, upper-case hex",
	  escapes("a b/c:d@e+{\"}", "a%20b%2Fc%3Ad%40e%2B%7B%22%7D"));
	T("escape: bytes above 0x7f", escapes("\xc3\xa9", "%C3%A9"));
	http_global_cleanup();
	return tap_done();
}
