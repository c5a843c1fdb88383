/* failstart.c - LD_PRELOAD fault injector: the first libcurl request whose
 * URL contains $GB_FAILSTART_URL cannot be started: curl_multi_add_handle refuses it, so the
 * caller sees "a request that fails to start" (what an out-of-memory curl or
 * a client shutting down gives). Each refusal is recorded as a line in
 * $GB_FAILSTART_LOG. Built by the test that uses it:
 *   cc -shared -fPIC -o failstart.so failstart.c -ldl */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CURL *doomed;
static int used;

#undef curl_easy_setopt
CURLcode curl_easy_setopt(CURL *e, CURLoption opt, ...)
{
	static CURLcode (*real)(CURL *, CURLoption, ...);
	const char *want = getenv("GB_FAILSTART_URL");
	va_list ap;
	void *arg;

	if (!real)
		real = (CURLcode(*)(CURL *, CURLoption, ...))dlsym(RTLD_NEXT, "curl_easy_setopt");
	va_start(ap, opt);
	arg = va_arg(ap, void *); /* every option's argument is pointer-sized here */
	va_end(ap);
	if (opt == CURLOPT_URL && want && !used && strstr((const char *)arg, want))
		doomed = e;
	return real(e, opt, arg);
}

#undef curl_multi_add_handle
CURLMcode curl_multi_add_handle(CURLM *m, CURL *e)
{
	static CURLMcode (*real)(CURLM *, CURL *);
	const char *log = getenv("GB_FAILSTART_LOG");

	if (!real)
		real = (CURLMcode(*)(CURLM *, CURL *))dlsym(RTLD_NEXT, "curl_multi_add_handle");
	if (e == doomed && !used) {
		FILE *f = log ? fopen(log, "a") : NULL;
		used = 1;
		doomed = NULL;
		if (f) {
			fprintf(f, "refused %s\n", getenv("GB_FAILSTART_URL"));
			fclose(f);
		}
		return CURLM_BAD_HANDLE;
	}
	return real(m, e);
}
