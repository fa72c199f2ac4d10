# going: build, install, check. No configure step; PREFIX and DESTDIR as usual.
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR = $(DESTDIR)$(PREFIX)/sbin
MAN5DIR = $(DESTDIR)$(PREFIX)/share/man/man5
MAN8DIR = $(DESTDIR)$(PREFIX)/share/man/man8
BINARIES = going goingctl
# Which cargo profile's binaries to install. The tests install the debug ones
# that `cargo test` built: a nested cargo would wait forever on its lock.
PROFILE ?= release
MAN5 = going.5
MAN8 = going.8 goingctl.8

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
# Release artefacts carry the commit's date, so that two builds of one commit are the same bytes.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH
DIST = going-$(VERSION)-$(shell uname -m)-linux
DEB_ARCH = $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB = going_$(VERSION)_$(DEB_ARCH)
MAINTAINER = going developers <going@example.org>

.PHONY: all install uninstall check lint doc bench dist deb

all:
	cargo build --release

install: $(if $(filter release,$(PROFILE)),all)
	install -d $(SBINDIR) $(MAN5DIR) $(MAN8DIR)
	for binary in $(BINARIES); do install -m 0755 target/$(PROFILE)/$$binary $(SBINDIR)/$$binary; done
	for page in $(MAN5); do install -m 0644 man/$$page $(MAN5DIR)/$$page; done
	for page in $(MAN8); do install -m 0644 man/$$page $(MAN8DIR)/$$page; done

uninstall:
	for binary in $(BINARIES); do rm -f $(SBINDIR)/$$binary; done
	for page in $(MAN5); do rm -f $(MAN5DIR)/$$page; done
	for page in $(MAN8); do rm -f $(MAN8DIR)/$$page; done

# The README's test command: the Debian packages the tests need, then every test.
check:
	sh packaging/test-packages.sh
	cargo test

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	mandoc -T lint -W warning man/*

# The man pages as HTML beside docs/index.html, made from them, never kept by hand.
DOCDIR ?= docs
doc:
	mkdir -p $(DOCDIR)
	for page in $(MAN5) $(MAN8); do mandoc -T html -O style=style.css,man=%N.%S.html man/$$page > $(DOCDIR)/$$page.html; done

bench:
	bash bench/footprint.sh
	python3 bench/cold_start.py
	python3 bench/reload_latency.py
	python3 bench/log_throughput.py
	python3 bench/compare.py
	python3 bench/scale.py
	python3 bench/listen.py

# target/dist/going-VERSION-ARCH-linux.tar.gz and its .sha256: both binaries,
# the man pages, the examples, LICENSE, README and CHANGELOG. Sorted names,
# owner 0, modes without group or other write, mtimes of the commit.
dist: $(if $(filter release,$(PROFILE)),all)
	rm -rf target/dist/$(DIST) && mkdir -p target/dist/$(DIST)/man
	cp target/$(PROFILE)/going target/$(PROFILE)/goingctl target/dist/$(DIST)/
	cp $(addprefix man/,$(MAN5) $(MAN8)) target/dist/$(DIST)/man/
	cp -R examples LICENSE README.md CHANGELOG.md target/dist/$(DIST)/
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$(SOURCE_DATE_EPOCH) \
		--mode=u+rwX,go+rX,go-w -C target/dist -cf - $(DIST) | gzip -9n > target/dist/$(DIST).tar.gz
	cd target/dist && sha256sum $(DIST).tar.gz > $(DIST).tar.gz.sha256

# target/deb/going_VERSION_ARCH.deb, built with dpkg-deb: /usr/sbin/going and
# goingctl, the man pages, an empty /etc/going.d, the systemd unit (not
# enabled), copyright and changelog.
deb: $(if $(filter release,$(PROFILE)),all)
	rm -rf target/deb/root && mkdir -p target/deb/root/DEBIAN
	for binary in $(BINARIES); do install -D -m 0755 target/$(PROFILE)/$$binary target/deb/root/usr/sbin/$$binary; done
	# Stripped as Debian ships binaries (the release profile strips already).
	strip --strip-unneeded --remove-section=.comment $(addprefix target/deb/root/usr/sbin/,$(BINARIES))
	for page in $(MAN5); do install -D -m 0644 man/$$page target/deb/root/usr/share/man/man5/$$page; done
	for page in $(MAN8); do install -D -m 0644 man/$$page target/deb/root/usr/share/man/man8/$$page; done
	gzip -9n target/deb/root/usr/share/man/man*/*
	install -d -m 0755 target/deb/root/etc/going.d
	sed 's|/usr/local/sbin/going|/usr/sbin/going|' examples/going.service > target/deb/going.service
	install -D -m 0644 target/deb/going.service target/deb/root/usr/lib/systemd/system/going.service
	install -D -m 0644 packaging/copyright target/deb/root/usr/share/doc/going/copyright
	sh packaging/debian-changelog.sh CHANGELOG.md "$(MAINTAINER)" | gzip -9n > target/deb/changelog.gz
	install -m 0644 target/deb/changelog.gz target/deb/root/usr/share/doc/going/changelog.gz
	install -D -m 0644 packaging/lintian-overrides target/deb/root/usr/share/lintian/overrides/going
	sed -e 's/@VERSION@/$(VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' -e 's/@MAINTAINER@/$(MAINTAINER)/' \
		-e "s/@SIZE@/$$(du -sk --exclude=DEBIAN target/deb/root | cut -f1)/" packaging/control > target/deb/root/DEBIAN/control
	cd target/deb/root && find usr etc -type f | LC_ALL=C sort | xargs md5sum > DEBIAN/md5sums
	find target/deb/root -exec touch -h -d @$(SOURCE_DATE_EPOCH) {} +
	dpkg-deb --root-owner-group -Zxz --build target/deb/root target/deb/$(DEB).deb
