# Makefile - convenience targets around premake (the build itself lives in
# premake5.lua; `bash scripts/setup.sh` also installs the Debian packages).
#
#   make                  release build: build/release/graphbuild
#   make install          install the binary, the stacks library, the man page,
#                         completions and the LuaLS annotations under PREFIX
#   make uninstall
#   make test             the whole test suite (= bash tests/run.sh)
#
# The installed binary finds the library next to itself
# (BIN/../share/graphbuild/stacks), so any PREFIX works without a rebuild;
# DESTDIR is honoured for packaging.

PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR := $(PREFIX)/share/graphbuild
PREMAKE := $(shell command -v premake5 >/dev/null 2>&1 && echo premake5 || echo premake4)

all: build/release/graphbuild

build/Makefile: premake5.lua
	$(PREMAKE) --file=premake5.lua gmake

build/release/graphbuild: build/Makefile FORCE
	$(MAKE) -C build config=release graphbuild

install: all
	install -Dm755 build/release/graphbuild $(DESTDIR)$(PREFIX)/bin/graphbuild
	install -d $(DESTDIR)$(LIBDIR)/stacks
	install -m644 stacks/*.lua $(DESTDIR)$(LIBDIR)/stacks/
	install -Dm644 lua/graphbuild.d.lua $(DESTDIR)$(LIBDIR)/graphbuild.d.lua
	install -Dm644 docs/graphbuild.1 $(DESTDIR)$(PREFIX)/share/man/man1/graphbuild.1
	install -Dm644 completions/graphbuild.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/graphbuild
	install -Dm644 completions/_graphbuild $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_graphbuild

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/graphbuild $(DESTDIR)$(PREFIX)/share/man/man1/graphbuild.1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/graphbuild \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_graphbuild
	rm -rf $(DESTDIR)$(LIBDIR)

test:
	bash tests/run.sh

.PHONY: all install uninstall test FORCE
FORCE:
