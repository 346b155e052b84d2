"""keepalived.conf as today's OpenShift ipfailover scripts generate it (config-generators.sh,
per openshift-ipfailover-today.md sections 3.1-3.4), line for line including the
whitespace-only lines. Written from that description; no code of the scripts copied."""
import random
import re


def scrub(name):
    """Keep [:alnum:], '-', '_'; then '-' -> '_'."""
    return re.sub(r"[^A-Za-z0-9_-]", "", name).replace("-", "_")


def groups_of(vips, ngroups):
    """N VIPs into G instances, the first N%G get N/G+1 (unset/0: one per VIP; G>N: N singles)."""
    n = len(vips)
    if not ngroups or ngroups >= n:
        return [[v] for v in vips]
    base, extra = divmod(n, ngroups)
    out, i = [], 0
    for g in range(ngroups):
        k = base + (1 if g < extra else 0)
        out.append(vips[i:i + k])
        i += k
    return out


def generate(*, vips, groups=0, iface="eth0", node_ip, port=80, interval=2,
             preemption="preempt_delay 300", name="OpenShift-IPFailover", offset=10, replicas=1,
             excluded=(), rng=None, advert=None):
    """Returns (config text, [priority of each instance]). `advert` (seconds, e.g. 0.1) adds
    `vrrp_version 3` and `advert_int`: the sub-second profile, which today's scripts cannot
    generate but a keepalived-based pod must be given to talk to ipfailover's."""
    rng = rng or random.Random()
    scr = scrub(name)
    chk = "chk_" + name.replace("-", "_")
    out = ["! Configuration File for keepalived", "", "global_defs {", "   max_auto_priority    99",
           "   notification_email {", "     root@localhost", "   }", "",
           "   notification_email_from ipfailover@openshift.local", "   smtp_server 127.0.0.1",
           "   smtp_connect_timeout 30", f"   router_id {scr}"]
    out += ["   vrrp_version 3"] if advert else []
    out += ["}", ""]
    script = "true" if port == 0 else f"/bin/bash -c '</dev/tcp/{node_ip or '127.0.0.1'}/{port}'"
    out += [f"vrrp_script {chk} {{", f'   script "{script}"', f"   interval {interval}", "}", "", ""]
    ipslot = (int(node_ip.split(".")[-1]) if node_ip else 0) % 128
    idx = ipslot % (replicas if replicas > 0 else 1) + 1
    previous = "none"
    prios = []
    for counter, group in enumerate(groups_of(vips, groups), 1):
        prio = ipslot % 64 + rng.randrange(32)
        kind = "slave"
        if counter % idx == 0:
            if preemption != "nopreempt":
                kind = "master"
            if previous == "master":
                prio, previous = ipslot + 1, "flip-flop"
            else:
                prio, previous = 255 - ipslot, kind
        while offset + counter in excluded:
            offset += 1
        prios.append(prio)
        out += [f"vrrp_instance {scr}_VIP_{counter} {{", f"   interface {iface}",
                "   state MASTER" if kind == "master" else "   ",
                f"   virtual_router_id {offset + counter}", f"   priority {prio}", f"   {preemption}",
                f"   advert_int {advert}" if advert else "   ",
                "   authentication {", "      auth_type PASS", f"      auth_pass {name}", "   }", "   ",
                "   track_script {", f"      {chk}", "   }", "   ", " ", "   ", "   virtual_ipaddress {"]
        out += [f"    {v} dev {iface}" for v in group]
        out += ["   }", "}", "", ""]
    return "\n".join(out) + "\n", prios
