# packaging.mk — man pages, Debian and RPM packages. Included by the Makefile.
#
#   make deb              build/packages/twowayd_<version>_<arch>.deb (dpkg-buildpackage -b)
#   make rpm              build/packages/twowayd-<version>-1.<arch>.rpm (rpmbuild -bb)
#   make check-manpages   man pages render without warnings; twowayd.conf(5)
#                         documents every key of the schema in src/config_schema.c
#   make check-packages   both packages built and checked: file lists, conffiles,
#                         lintian (fails on errors), units, man pages
#   make deps-packaging   install the packaging tools and build dependencies
#                         (root), or print the command
#
# Both packages are built from a copy of the working tree (the files git
# tracks or would track: nothing ignored, nothing under build/) in
# build/pkg-src/twowayd-<version>, with the project's own "make" and
# "make install DESTDIR=... PREFIX=/usr". Every output stays under build/.
# Neither package build runs the test suite: "make check" is CI's.

PKG_OUT     := build/packages
PKG_SRC     := build/pkg-src
PKG_TREE    := $(PKG_SRC)/twowayd-$(VERSION)
PKG_DEB_SRC := build/deb-src
PKG_RPM_TOP := $(CURDIR)/build/rpm

MAN_PAGES     := packaging/man/twowayd.8 packaging/man/twowayd.conf.5
MAN_PAGES_CTL := packaging/man/twowayctl.8
HAVE_CTL      := $(if $(wildcard src/ctl/twowayctl.c),1)

# --- make install: what the Makefile's own install target leaves out ----------
# Hooked in as a prerequisite, so "make install" installs everything the
# packages contain: twowayctl, the man pages and the socket unit.
install: install-extra
uninstall: uninstall-extra

.PHONY: install-extra uninstall-extra deps-packaging check-manpages pkg-src deb rpm \
        check-packages

install-extra: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR)
	$(if $(HAVE_CTL),install -m 0755 $(BUILD)/twowayctl $(DESTDIR)$(SBINDIR)/twowayctl)
	$(if $(HAVE_CTL),install -m 0644 $(MAN_PAGES_CTL) $(DESTDIR)$(MANDIR)/man8/)
	install -m 0644 packaging/man/twowayd.8 $(DESTDIR)$(MANDIR)/man8/twowayd.8
	install -m 0644 packaging/man/twowayd.conf.5 $(DESTDIR)$(MANDIR)/man5/twowayd.conf.5
	install -m 0644 systemd/twowayd.socket $(DESTDIR)$(UNITDIR)/twowayd.socket

uninstall-extra:
	rm -f $(DESTDIR)$(SBINDIR)/twowayctl $(DESTDIR)$(MANDIR)/man8/twowayctl.8 \
		$(DESTDIR)$(MANDIR)/man8/twowayd.8 $(DESTDIR)$(MANDIR)/man5/twowayd.conf.5 \
		$(DESTDIR)$(UNITDIR)/twowayd.socket

# --- tools and build dependencies --------------------------------------------------
# The Build-Depends of packaging/debian/control, less debhelper's virtual names.
# (The sed program is a variable of its own: its unbalanced parentheses would
# end a $(shell ...) call written in place.)
PKG_BD_STRIP := sed -e 's/^Build-Depends://' -e 's/([^)]*)//g' -e 's/\[[^]]*\]//g' -e 's/,/ /g'
PKG_BUILD_DEPS = $(filter-out debhelper-compat dh-sequence-%,$(shell \
	sed -n '/^Build-Depends:/,/^[A-Z][A-Za-z-]*:/{/^Build-Depends:/p;/^[[:space:]]/p;}' \
		packaging/debian/control 2>/dev/null | $(PKG_BD_STRIP)))
PKG_TOOLS := build-essential dpkg-dev debhelper fakeroot lintian rpm groff-base man-db git \
             systemd

deps-packaging:
	$(call deb_install,$(PKG_TOOLS) $(PKG_BUILD_DEPS))

# --- man pages -------------------------------------------------------------------
check-manpages:
	$(Q)packaging/check-manpage-keys.sh
	$(Q)status=0; \
	for m in $(MAN_PAGES) $(if $(HAVE_CTL),$(MAN_PAGES_CTL)); do \
		out=$$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 $$m 2>&1); \
		out=$$out$$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l $$m 2>&1 >/dev/null); \
		if [ -n "$$out" ]; then echo "$$m: warnings:"; echo "$$out"; status=1; fi; \
		grep -q '^\.TH [^ ]* [0-9] [^ ]* "twowayd $(VERSION)"' $$m || \
			{ echo "$$m: .TH does not name version $(VERSION)"; status=1; }; \
	done; \
	[ $$status = 0 ] && echo "check-manpages: $(words $(MAN_PAGES) $(if $(HAVE_CTL),$(MAN_PAGES_CTL))) pages render without warnings"; \
	exit $$status

# --- the source tree both packages build from ----------------------------------------
pkg-src:
	@command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1 || \
		{ echo "pkg-src: needs git and a git work tree (the file list is git's)"; exit 1; }
	$(Q)rm -rf $(PKG_SRC) && mkdir -p $(PKG_TREE)
	@# Tracked and untracked files, less what .gitignore excludes and what was deleted.
	$(Q)git ls-files --cached --others --exclude-standard | sort -u | \
		while IFS= read -r f; do [ -f "$$f" ] && printf '%s\n' "$$f"; done | \
		tar -cf - -T - | tar -xf - -C $(PKG_TREE)

# --- Debian ------------------------------------------------------------------------
# dpkg-buildpackage writes its results to the parent of the tree it builds, so
# the tree is copied to build/deb-src/twowayd-<version> and the results are
# moved from build/deb-src to build/packages.
PKG_DEB_VERSION = $(shell dpkg-parsechangelog -l packaging/debian/changelog -S Version)

deb: pkg-src
	@v='$(PKG_DEB_VERSION)'; [ "$${v%-*}" = "$(VERSION)" ] || \
		{ echo "deb: packaging/debian/changelog is at $$v, the Makefile at $(VERSION)"; exit 1; }
	$(Q)rm -rf $(PKG_DEB_SRC) && mkdir -p $(PKG_DEB_SRC) $(PKG_OUT)
	$(Q)cp -a $(PKG_TREE) $(PKG_DEB_SRC)/ && cp -a packaging/debian $(PKG_DEB_SRC)/twowayd-$(VERSION)/debian
	$(Q)rm -f $(PKG_OUT)/twowayd_* $(PKG_OUT)/twowayd-dbgsym_*
	$(Q)cd $(PKG_DEB_SRC)/twowayd-$(VERSION) && \
		DEB_BUILD_OPTIONS="nocheck $(DEB_BUILD_OPTIONS)" dpkg-buildpackage -us -uc -b -Jauto \
		>../dpkg-buildpackage.log 2>&1 || \
		{ tail -40 ../dpkg-buildpackage.log; echo "deb: failed, full log in $(PKG_DEB_SRC)/dpkg-buildpackage.log"; exit 1; }
	$(Q)mv $(PKG_DEB_SRC)/*.deb $(PKG_DEB_SRC)/*.buildinfo $(PKG_DEB_SRC)/*.changes $(PKG_OUT)/
	$(Q)for f in $(PKG_DEB_SRC)/*.ddeb; do [ ! -e "$$f" ] || mv "$$f" $(PKG_OUT)/; done
	@ls -1 $(PKG_OUT)/twowayd_*.deb

# --- RPM ---------------------------------------------------------------------------
# rpmbuild resolves BuildRequires against the rpm database, which on Debian
# knows no -devel package: there the build dependencies are Debian's
# (make deps-packaging) and rpmbuild runs with --nodeps. On Amazon Linux or
# Fedora the BuildRequires are checked as usual.
PKG_RPM_NODEPS := $(if $(wildcard /etc/debian_version),--nodeps)

rpm: pkg-src
	$(Q)rm -rf $(PKG_RPM_TOP) && mkdir -p $(PKG_RPM_TOP)/SOURCES $(PKG_RPM_TOP)/tmp $(PKG_OUT)
	$(Q)tar -czf $(PKG_RPM_TOP)/SOURCES/twowayd-$(VERSION).tar.gz -C $(PKG_SRC) twowayd-$(VERSION)
	$(Q)cp systemd/twowayd.sysusers $(PKG_RPM_TOP)/SOURCES/twowayd.sysusers
	$(Q)rm -f $(PKG_OUT)/twowayd-*.rpm
	$(Q)rpmbuild -bb $(PKG_RPM_NODEPS) --define '_topdir $(PKG_RPM_TOP)' --define '_tmppath $(PKG_RPM_TOP)/tmp' \
		--define 'pkg_version $(VERSION)' packaging/rpm/twowayd.spec \
		>$(PKG_RPM_TOP)/rpmbuild.log 2>&1 || \
		{ tail -40 $(PKG_RPM_TOP)/rpmbuild.log; echo "rpm: failed, full log in build/rpm/rpmbuild.log"; exit 1; }
	$(Q)find $(PKG_RPM_TOP)/RPMS -name 'twowayd-*.rpm' -exec mv {} $(PKG_OUT)/ \;
	@ls -1 $(PKG_OUT)/twowayd-*.rpm

# --- checks ------------------------------------------------------------------------
# Paths both packages must hold (man pages may carry a compression suffix).
PKG_EXPECT := /usr/sbin/twowayd $(if $(HAVE_CTL),/usr/sbin/twowayctl) \
              /etc/twowayd/twowayd.conf /usr/lib/sysusers.d/twowayd.conf \
              UNITDIR/twowayd.service UNITDIR/twowayd.socket \
              /usr/share/man/man8/twowayd.8 /usr/share/man/man5/twowayd.conf.5 \
              $(if $(HAVE_CTL),/usr/share/man/man8/twowayctl.8)

# Fails when a path of PKG_EXPECT is not in the list file $(1); $(2): the unit directory.
pkg_expect = status=0; for p in $(PKG_EXPECT); do \
		p=$$(printf '%s' "$$p" | sed 's|^UNITDIR|$(2)|'); \
		grep -Eq "^$$p(\.gz|\.xz|\.bz2|\.zst)?$$" $(1) || { echo "  missing: $$p"; status=1; }; \
	done; [ $$status = 0 ]

check-packages: deps-packaging check-manpages
	@$(MAKE) -s deb rpm
	@echo "== deb"
	$(Q)set -e; deb=$$(ls $(PKG_OUT)/twowayd_*.deb | head -1); \
	root=build/pkg-check/deb; rm -rf $$root && mkdir -p $$root; \
	dpkg -x $$deb $$root; \
	(cd $$root && find . ! -type d | sed 's|^\.||' | sort) >build/pkg-check/deb.files; \
	$(call pkg_expect,build/pkg-check/deb.files,/lib/systemd/system) || { echo "deb: file list incomplete"; exit 1; }; \
	echo "deb: Depends: $$(dpkg-deb -f $$deb Depends)"; \
	dpkg-deb --ctrl-tarfile $$deb | tar -xOf - ./conffiles | grep -qx /etc/twowayd/twowayd.conf || \
		{ echo "deb: /etc/twowayd/twowayd.conf is not a conffile"; exit 1; }; \
	dpkg-deb --ctrl-tarfile $$deb | tar -xOf - ./postinst | grep -q 'systemd-sysusers' || \
		{ echo "deb: postinst does not run systemd-sysusers"; exit 1; }; \
	echo "deb: $$(wc -l <build/pkg-check/deb.files) files, conffile and sysusers postinst present"; \
	out=$$(systemd-analyze verify --man=no $$root/lib/systemd/system/twowayd.socket \
		$$root/lib/systemd/system/twowayd.service 2>&1 | grep -v "Command /usr/sbin/twowayd is not executable" || true); \
	[ -z "$$out" ] || { echo "$$out"; echo "deb: systemd-analyze verify complains"; exit 1; }; \
	echo "units: systemd-analyze verify clean"; \
	sec=$$(systemd-analyze security --offline=yes --threshold=20 $$root/lib/systemd/system/twowayd.service 2>&1) || \
		{ echo "$$sec" | tail -1; echo "deb: twowayd.service is rated above 2.0"; exit 1; }; \
	echo "$$sec" | tail -1; \
	lintian --fail-on error $$deb; \
	echo "lintian: no errors"
	@echo "== rpm"
	$(Q)set -e; rpm=$$(ls $(PKG_OUT)/twowayd-*.rpm | grep -v debug | head -1); \
	rpm -qlp $$rpm 2>/dev/null | sort >build/pkg-check/rpm.files; \
	$(call pkg_expect,build/pkg-check/rpm.files,/usr/lib/systemd/system) || { echo "rpm: file list incomplete"; exit 1; }; \
	rpm -qcp $$rpm 2>/dev/null | grep -qx /etc/twowayd/twowayd.conf || \
		{ echo "rpm: /etc/twowayd/twowayd.conf is not %config"; exit 1; }; \
	rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' $$rpm 2>/dev/null | grep -q '^cn /etc/twowayd/twowayd.conf$$' || \
		{ echo "rpm: /etc/twowayd/twowayd.conf is not %config(noreplace)"; exit 1; }; \
	rpm -qp --scripts $$rpm 2>/dev/null | grep -q 'sysusers' || \
		{ echo "rpm: no sysusers scriptlet"; exit 1; }; \
	echo "rpm: $$(wc -l <build/pkg-check/rpm.files) files, %config(noreplace) and sysusers scriptlet present"
	@echo "check-packages: OK"
