# Piecewise: the README's two commands are `make demo` and `make test`.
# Both install what they need first (as root, or through sudo).

PREFIX ?= /usr/local
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Build, run and test dependencies on Debian 12.
DEBIAN_PACKAGES := \
	pkg-config gettext libglib2.0-dev-bin \
	libgtk-4-dev libadwaita-1-dev \
	libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev \
	gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav \
	xvfb xauth dbus-daemon dbus-x11 imagemagick \
	python3-libtorrent opentracker nginx-light \
	desktop-file-utils appstream

# Wrap GUI-capable commands in a virtual display and a D-Bus session when
# there is no display (CI, SSH).
HEADLESS := xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session --

.PHONY: deps build demo test lint plugin

deps:
	@missing=$$(dpkg-query -W -f='$${Status} $${Package}\n' $(DEBIAN_PACKAGES) 2>/dev/null \
		| grep -c -v '^install ok installed'); \
	count=$$(dpkg-query -W -f='$${Package}\n' $(DEBIAN_PACKAGES) 2>/dev/null | wc -l); \
	if [ "$$missing" != 0 ] || [ "$$count" != "$(words $(DEBIAN_PACKAGES))" ]; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES); \
	fi

build: deps
	cargo build

demo: build
	cargo run -- demo

# torrentsrc as a plugin library for GST_PLUGIN_PATH (built only on request).
plugin: deps
	cargo build --example gstpiecewise --features gst-plugin
	@echo "GST_PLUGIN_PATH=$(CURDIR)/target/debug/examples gst-inspect-1.0 torrentsrc"

lint: deps
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

test: lint
	$(HEADLESS) cargo test --all-targets
