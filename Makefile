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

.PHONY: all install uninstall check lint doc bench

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

# The same tests as the README's test command.
check:
	cargo test

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	mandoc -T lint -W warning man/*

# The man pages as HTML: the project's web page, readable without a man reader.
doc:
	mkdir -p docs
	for page in $(MAN5) $(MAN8); do mandoc -T html -O style=style.css,man=%N.%S.html man/$$page > docs/$$page.html; done

bench:
	bash bench/footprint.sh
	python3 bench/cold_start.py
	python3 bench/reload_latency.py
	python3 bench/log_throughput.py
	python3 bench/compare.py
	python3 bench/scale.py
