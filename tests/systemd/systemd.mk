# systemd.mk — the package under a booted systemd. Included by the Makefile.
#
#   make deps-systemd    install debootstrap and systemd-nspawn (root), or print the command
#   make check-systemd   build the .deb, boot a Debian 12 root with systemd-nspawn, install
#                        the package in it and check both deployments of the README
#
# check-systemd (root only) debootstraps a minimal Debian 12 root with systemd
# and the package's run-time dependencies once, cached under
# build/systemd/cache/ (keyed by the package list, so a new dependency makes a
# new root; a later run reuses it and needs no network). Each run boots that
# root with "systemd-nspawn -b --volatile=overlay": the cache stays untouched,
# everything the run writes is on a tmpfs layer that goes with the container.
# The container shares the host's network namespace, so the daemon in it
# reaches the local AWS stand-in that the test starts on 127.0.0.1, and the
# socket unit listens on 127.0.0.1:443 of this machine for the run. What the
# test checks is listed at the top of tests/systemd/boot.test.mjs.
#
# The run is bounded (SYSTEMD_TEST_TIMEOUT seconds, 480 by default, plus about
# a minute, at most 5, for a first debootstrap) and leaves the machine as it
# found it: the container is stopped and, if need be, killed by PID, and
# nothing is left in /run. systemd-container is installed without its recommended
# libnss-mymachines, which would edit /etc/nsswitch.conf. The log of the
# container's console is build/systemd/console.log.

SYSTEMD_TEST_TIMEOUT ?= 480

.PHONY: deps-systemd check-systemd

deps-systemd:
	$(call deb_install,debootstrap systemd-container debian-archive-keyring)

check-systemd: deps-systemd deps-packaging deps-node
	@[ "$$(id -u)" = 0 ] || { echo "check-systemd: must run as root (debootstrap, systemd-nspawn)"; exit 1; }
	@$(MAKE) -s deb
	$(Q)SYSTEMD_TEST_TIMEOUT=$(SYSTEMD_TEST_TIMEOUT) tests/systemd/run-systemd-test
