# The ipfailover image: one static binary, no shell, no package manager, no base image.
# Build with scripts/build-image (it runs scripts/build-static, which stages the context
# this file copies: target/image/).
FROM scratch

LABEL io.k8s.display-name="OpenShift IP Failover" \
      io.k8s.description="VRRP IP failover (keepalived-compatible) configured by OPENSHIFT_HA_* variables: one static binary." \
      io.openshift.tags="openshift,ha,ip,failover" \
      summary="OpenShift IP Failover"

# /usr/sbin/ipfailover and its argv[0] aliases (symlinks made by build-static):
#   /var/lib/ipfailover/keepalived/monitor.sh          -> run the daemon (today's entrypoint)
#   /var/lib/ipfailover/keepalived/remove-failover.sh  -> cleanup (today's removal Job)
#   /usr/bin/pgrep                                     -> the liveness probe `pgrep keepalived`
# plus empty /etc/keepalived/ (keepalived.conf is written there), /run/ipfailover/ (status
# file) and /tmp.
COPY . /

WORKDIR /var/lib/ipfailover
ENTRYPOINT ["/var/lib/ipfailover/keepalived/monitor.sh"]
