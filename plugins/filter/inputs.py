"""flaskops.stack's one validation layer: every typed input of every role.

Each role's preflight hands its inputs to ``input_errors`` as a list of
``[variable, value, type, options]`` and stops on the messages it returns,
each naming its variable. Every check is a full match (a trailing newline
is refused), addresses and networks are parsed with ``ipaddress`` rather
than compared as text, and domain names are compared without case.

``bind_info`` and ``address_info`` describe a gunicorn-style bind and an
address the same way the checks see them, for the roles' own decisions
(whether a firewall is needed, which address family it filters).
"""

import ipaddress
import json
import re
import shlex

try:
    from packaging.requirements import InvalidRequirement, Requirement
except ImportError:  # ansible-core depends on packaging; this is a guard only
    Requirement = None
    InvalidRequirement = ValueError

# Names the collection's units and packages use, and the distribution's own
# units and accounts: an application named after one would shadow or take
# it over (nginx.service replaced by the app's unit, for instance).
RESERVED_NAMES = frozenset("""
    nginx certbot nftables gunicorn flaskops git python python3 pip openssh ssh sshd
    systemd dbus polkit udev journald logind networkd resolved timesyncd cron anacron atd
    rsyslog syslog getty console apt dpkg sudo init kexec halt reboot poweroff shutdown
    emergency rescue default multi graphical basic sysinit local remote network networking
    sockets timers paths slices swap tmp umount kmod user users exit sound bluetooth
    printer smartcard time chrony chronyd ntp ntpd ntpsec exim4 postfix sendmail ufw
    firewalld iptables ip6tables netfilter docker containerd podman snapd lxd lxc cloud
    apparmor auditd rpcbind nfs nscd avahi cups logrotate man motd plymouth procps
    hwclock mdadm lvm2 multipathd iscsid qemu kvm libvirtd haproxy apache2 httpd redis
    postgresql mysql mariadb memcached mongod rabbitmq root nobody daemon bin sys adm
    mail news uucp proxy backup list irc gnats games lp operator www staff shadow disk
""".split())

# Groups that grant more than an application needs: the service or its
# socket in one of them could read secrets, devices or the whole disk, or
# become root.
PRIVILEGED_GROUPS = frozenset("""
    root adm admin disk kmem mem shadow sudo wheel docker lxd incus incus-admin libvirt
    libvirt-qemu kvm systemd-journal staff tty utmp input video audio dialout lpadmin
""".split())

# Folders of the system itself, or shared by everything on the host: never
# an application's root, a writable path or a static folder of a site.
SYSTEM_ROOTS = frozenset([
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32",
    "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp",
    "/usr", "/usr/local", "/var", "/var/backups", "/var/cache", "/var/lib", "/var/local",
    "/var/lock", "/var/log", "/var/mail", "/var/opt", "/var/run", "/var/spool", "/var/tmp",
    "/var/www",
])
# Below these, nothing belongs to an application.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
                "/root", "/run", "/sbin", "/sys", "/usr")
SYSTEM_TREES_EXCEPT = ("/usr/local",)
# Where programs keep their logs, state and caches: never a site's static
# folder (nginx would serve the deploy history, logs or keys).
DATA_TREES = ("/var/log", "/var/lib", "/var/cache", "/var/spool", "/var/backups", "/var/mail",
              "/var/local", "/var/opt")
# The sandbox hides these from a service (ProtectHome=, PrivateTmp=).
HIDDEN_TREES = ("/home", "/root", "/run/user", "/tmp", "/var/tmp", "/dev/shm")

# systemd [Service] settings gunicorn_service_overrides may set: resources
# and timeouts, network access lists (they only narrow it), and the one
# sandbox relaxation the README documents.
SIZE = r"[0-9]+[KMGT]?|[0-9]+(\.[0-9]+)?%|infinity"
SPAN = r"infinity|([0-9]+(\.[0-9]+)?\s*(us|ms|s|sec|m|min|h|d)?\s*)+"
RLIMIT = r"(infinity|[0-9]+[KMGT]?)(:(infinity|[0-9]+[KMGT]?))?"
SERVICE_OVERRIDES = {
    **{name: SIZE for name in ("MemoryMin", "MemoryLow", "MemoryHigh", "MemoryMax", "MemorySwapMax",
                               "MemoryZSwapMax")},
    "CPUQuota": r"[0-9]+(\.[0-9]+)?%",
    "CPUWeight": r"idle|[0-9]{1,5}",
    "StartupCPUWeight": r"idle|[0-9]{1,5}",
    "IOWeight": r"[0-9]{1,5}",
    "StartupIOWeight": r"[0-9]{1,5}",
    "TasksMax": r"[0-9]+%?|infinity",
    **{name: RLIMIT for name in ("LimitNOFILE", "LimitNPROC", "LimitCORE", "LimitAS", "LimitFSIZE",
                                 "LimitMEMLOCK", "LimitSTACK", "LimitDATA", "LimitRSS")},
    "Nice": r"-?[0-9]{1,2}",
    "OOMScoreAdjust": r"-?[0-9]{1,4}",
    "OOMPolicy": r"continue|stop|kill",
    **{name: SPAN for name in ("TimeoutStartSec", "TimeoutStopSec", "TimeoutAbortSec", "TimeoutSec",
                               "RestartSec", "RuntimeMaxSec", "WatchdogSec")},
    "MemoryDenyWriteExecute": r"yes|no",
    **{name: r"((any|localhost|link-local|multicast|[0-9A-Fa-f:.]+(/[0-9]{1,3})?)( +|$))+"
       for name in ("IPAddressAllow", "IPAddressDeny")},
}

NAME = re.compile(r"[a-z][a-z0-9_]{0,25}")
ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(rf"(?=.{{1,253}}\Z){LABEL}(\.{LABEL})*")
PATH = re.compile(r"/[A-Za-z0-9_.+/-]*")
RELATIVE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/-]*")
FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
URL_PATH = re.compile(r"/[A-Za-z0-9_./?=&%~+-]*")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")
WSGI = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*(:[A-Za-z_][A-Za-z0-9_]*(\([^\x00-\x1f\x7f]*\))?)?")
GIT_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/+@-]*")
COMMIT = re.compile(r"[0-9a-f]{40}")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
HTTPS_URL = re.compile(r"https://[A-Za-z0-9.:-]+(/[A-Za-z0-9._~%/-]*)?")
SIZE_NGINX = re.compile(r"[0-9]+[kKmMgG]?")
EXPIRES = re.compile(r"off|max|epoch|-?[0-9]+[smhdwMy]?")
LOGIN = re.compile(r"[A-Za-z0-9_.+-]+")
PYTHON_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
URL_PREFIX = re.compile(r"/([A-Za-z0-9_.-]+/)+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Invalid(Exception):
    """A value that is not of its type: the reason, and whether to quote it."""

    def __init__(self, reason, quote=True):
        super().__init__(reason)
        self.reason = reason
        self.quote = quote


def shown(value):
    """The value as a message quotes it: JSON, so a newline shows as \\n."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return json.dumps(str(value))


def as_text(value, what):
    if not isinstance(value, str):
        raise Invalid(f"must be {what}, not a {type(value).__name__}")
    return value


def full(pattern, value, what):
    text = as_text(value, what)
    if not pattern.fullmatch(text):
        raise Invalid(f"must be {what}")
    return text


def as_int(value, what="a whole number"):
    """An int, or a string of digits (-e and INI inventories give strings)."""
    if isinstance(value, bool):
        raise Invalid(f"must be {what}, not true or false")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    raise Invalid(f"must be {what}")


def is_under(path, trees):
    return any(path == tree or path.startswith(tree.rstrip("/") + "/") for tree in trees)


def clean_path(value, what="an absolute path"):
    text = full(PATH, value, f"{what} of letters, digits and _ . + / - only")
    parts = text.split("/")[1:]
    if any(part in (".", "..") for part in parts) or "//" in text:
        raise Invalid(f"must be {what} without '.', '..' or '//'")
    return text.rstrip("/") or "/"


def system_path_reason(path):
    """Why PATH (normalised, absolute) is not an application's, or None."""
    if path in SYSTEM_ROOTS:
        return f"{path} is a folder of the system, shared by everything on the host"
    if is_under(path, SYSTEM_TREES) and not is_under(path, SYSTEM_TREES_EXCEPT):
        return f"{path} is inside a folder of the system"
    return None


# --- the types -------------------------------------------------------------

def check_name(value, reserved=True, **_):
    text = full(NAME, value, "a name of lowercase letters, digits and _, starting with a letter, "
                "at most 26 characters")
    if reserved and text in RESERVED_NAMES:
        raise Invalid("must not be the name of a unit, package or account of the system or of the "
                      "software the collection installs (it would replace or take it over)")
    return text


def check_account(value, privileged=False, **_):
    text = full(ACCOUNT, value, "a user or group name (lowercase letters, digits, _ and -)")
    if text == "root":
        raise Invalid("must not be root")
    if privileged and text in PRIVILEGED_GROUPS:
        raise Invalid(f"must not be a privileged group ({', '.join(sorted(PRIVILEGED_GROUPS))})")
    return text


def check_domain(value, no_www=False, **_):
    text = full(DOMAIN, value, "a domain name (letters, digits, hyphens and dots)")
    if no_www and text.lower().startswith("www."):
        raise Invalid("must be the bare domain, without www. (www.<domain> redirects to it)")
    return text.lower()


def check_path(value, system=None, hidden=None, data=None, dotted=None, not_under=(), **_):
    path = clean_path(value)
    if system == "refuse":
        reason = system_path_reason(path)
        if reason:
            raise Invalid(f"must be a folder of its own: {reason}")
    if data == "refuse" and is_under(path, DATA_TREES):
        raise Invalid(f"must not be inside {', '.join(DATA_TREES)}, where programs keep their logs, "
                      "state and caches")
    if hidden == "refuse" and is_under(path, HIDDEN_TREES):
        raise Invalid(f"must not be under {', '.join(HIDDEN_TREES)}: the service's sandbox hides "
                      "them or gives it a private copy")
    for tree in not_under:
        if is_under(path, [tree]):
            raise Invalid(f"must not be under {tree}")
    if dotted == "refuse" and any(part.startswith(".") for part in path.split("/")[1:]):
        raise Invalid("must not name a hidden folder (.git, .venv, .env...)")
    return path


def check_relative_path(value, dotted=None, **_):
    text = full(RELATIVE, value, "a path inside the repository (letters, digits and _ . + / -)")
    if ".." in text.split("/"):
        raise Invalid("must stay inside the repository (no '..')")
    if dotted == "refuse" and any(part.startswith(".") for part in text.split("/")):
        raise Invalid("must not name a hidden folder (.git, .venv, .env...)")
    return text


def check_filename(value, **_):
    return full(FILENAME, value, "a plain file name (letters, digits, '.', '_', '-')")


def check_url_path(value, empty=False, **_):
    if empty and value == "":
        return value
    return full(URL_PATH, value, "a URL path starting with /")


def parse_address(text):
    """An ipaddress object for TEXT (brackets allowed around IPv6)."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "%" in text:
        raise ValueError("zone indexes are not supported")
    return ipaddress.ip_address(text)


def address_scope(address):
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:0.0.0.0 listens as 0.0.0.0 does
    if address.is_unspecified:
        return "public"
    if address.is_loopback:
        return "loopback"
    return "private"


def bind_info(value):
    """What a gunicorn-style bind says: kind, host, port, family, scope.

    scope is "public" for every spelling of the unspecified address (it
    listens on every interface), "loopback", or "private" (one address
    other hosts may reach). Raises Invalid for anything else.
    """
    text = as_text(value, "host:port or unix:/path")
    if text.startswith("unix:"):
        path = clean_path(text[len("unix:"):], "unix:/absolute/path")
        return {"kind": "unix", "path": path, "host": "", "port": 0, "family": 0, "scope": "local",
                "address": ""}
    found = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[0-9.]+):([0-9]{1,5})", text)
    if not found:
        raise Invalid("must be an IP address and port (127.0.0.1:8000, [::1]:8000) or unix:/path")
    host, port = found.group(1), int(found.group(2))
    if host.startswith("[") != (":" in host):
        raise Invalid("must put an IPv6 address in brackets, and only an IPv6 address")
    try:
        address = parse_address(host)
    except ValueError:
        raise Invalid("must be an IP address and port (the address does not parse)") from None
    if not 1 <= port <= 65535:
        raise Invalid("must have a port from 1 to 65535")
    return {"kind": "tcp", "path": "", "host": str(address), "port": port, "family": address.version,
            "scope": address_scope(address),
            "address": f"[{address}]" if address.version == 6 else str(address)}


def check_bind(value, public=False, **_):
    info = bind_info(value)
    if info["scope"] == "public" and not public:
        raise Invalid("listens on every interface (an unspecified address, however spelled), which "
                      "exposes gunicorn past the proxy: bind to 127.0.0.1 or a private address, or set "
                      "gunicorn_bind_public to true if that is really meant")
    if info["kind"] == "unix" and is_under(info["path"], HIDDEN_TREES):
        raise Invalid(f"must not be a socket under {', '.join(HIDDEN_TREES)}: the service's sandbox "
                      "hides them; use unix:/run/<name>/<name>.sock")
    return value


def address_info(value):
    """family, scope, and the address as Python writes it."""
    address = parse_address(as_text(value, "an IP address"))
    return {"family": address.version, "scope": address_scope(address), "address": str(address)}


def check_address(value, connect=False, **_):
    """An IP address; with CONNECT, one a host can connect to (not the
    every-address of either family, in any spelling, nor a multicast one)."""
    try:
        address = parse_address(as_text(value, "an IP address"))
    except ValueError:
        raise Invalid("must be an IP address") from None
    plain = address.ipv4_mapped if address.version == 6 and address.ipv4_mapped is not None else address
    if connect and (plain.is_unspecified or plain.is_multicast):
        raise Invalid("must be the address of one host to connect to, not an every-address or multicast one")
    return str(address)


def parse_network(text):
    if text == "*":
        return None
    return ipaddress.ip_network(text, strict=False)


def check_network(value, everything=False, family=None, **_):
    text = as_text(value, "an IP address or network")
    if CONTROL.search(text) or " " in text:
        raise Invalid("must be an IP address or network")
    try:
        network = parse_network(text)
    except ValueError:
        raise Invalid("must be an IP address or network (address/prefix)") from None
    if network is None or network.prefixlen == 0:
        if not everything:
            raise Invalid("must not cover every address ('*', 0.0.0.0/0, ::/0 and their spellings)")
        return text
    if family and network.version != family:
        raise Invalid(f"must be an IPv{family} address or network, as the bind it guards")
    return text


def check_port(value, **_):
    port = as_int(value, "a port number")
    if not 1 <= port <= 65535:
        raise Invalid("must be a port from 1 to 65535")
    return port


def check_count(value, minimum=1, maximum=None, **_):
    number = as_int(value)
    if number < minimum:
        raise Invalid(f"must be a whole number of at least {minimum}")
    if maximum is not None and number > maximum:
        raise Invalid(f"must be a whole number of at most {maximum}")
    return number


def check_bool(value, **_):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise Invalid("must be true or false")


def check_line(value, empty=False, secret=False, spaces=True, **_):
    """One line of text: no newline or other control character. Numbers
    count as their text (an environment value of 1)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    text = as_text(value, "a string")
    if not empty and not text.strip():
        raise Invalid("must not be empty", quote=not secret)
    if CONTROL.search(text):
        raise Invalid("must be a single line, without control characters", quote=not secret)
    if not spaces and re.search(r"\s", text):
        raise Invalid("must be a single word, without spaces", quote=not secret)
    return text


def check_realm(value, **_):
    """The name a browser shows when it asks for a password: one line,
    without "$" (nginx would read a variable there)."""
    text = check_line(value)
    if "$" in text or len(text) > 128:
        raise Invalid("must be at most 128 characters, without \"$\" (nginx would read a variable there)")
    return text


def check_login(value, **_):
    return full(LOGIN, value, "a plain user name (letters, digits and _ . + -)")


def check_python_name(value, **_):
    return full(PYTHON_NAME, value, "a Python name (sync, gthread, uvicorn.workers.UvicornWorker)")


def check_url_prefix(value, **_):
    return full(URL_PREFIX, value, "a URL path between slashes (/static/)")


def check_upstream(value, **_):
    text = as_text(value, "host:port or unix:/path")
    if text.startswith("unix:"):
        clean_path(text[len("unix:"):], "unix:/absolute/path")
        return text
    found = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})", text)
    if not found:
        raise Invalid("must be host:port, [IPv6]:port or unix:/path")
    host = found.group(1)
    if host.startswith("[") or re.fullmatch(r"[0-9.]+", host):
        try:
            parse_address(host)
        except ValueError:
            raise Invalid("must be host:port with an address that parses") from None
    elif not DOMAIN.fullmatch(host):
        raise Invalid("must be host:port with a valid host name")
    if not 1 <= int(found.group(2)) <= 65535:
        raise Invalid("must have a port from 1 to 65535")
    return text


def check_any(value, **_):
    return value


def check_command(value, **_):
    text = check_line(value)
    try:
        argv = shlex.split(text)
    except ValueError as error:
        raise Invalid(f"must split like a shell command line ({error})") from None
    if not argv:
        raise Invalid("must name a command")
    return text


def check_requirement(value, **_):
    text = as_text(value, "a requirement specifier")
    if CONTROL.search(text) or text.strip() != text or text.startswith("-"):
        raise Invalid("must be a requirement specifier (name, extras and versions, as gunicorn==23.0.0), "
                      "not an option or a file")
    if Requirement is None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?"
                            r"(\s*(===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+"
                            r"(\s*,\s*(===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+)*)?", text):
            raise Invalid("must be a requirement specifier (name, extras and versions)")
        return text
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        raise Invalid("must be a requirement specifier (name, extras and versions, as gunicorn==23.0.0)") from None
    if requirement.url:
        raise Invalid("must name a package from the index, not a URL or a path")
    return text


def check_git_ref(value, **_):
    text = full(GIT_REF, value, "a branch, tag or commit (no spaces, not starting with - or .)")
    if ".." in text or text.endswith((".lock", "/", ".")):
        raise Invalid("must be a branch, tag or commit git accepts")
    return text


def check_commit(value, empty=False, **_):
    if empty and value == "":
        return value
    return full(COMMIT, value, "a full 40-character commit id")


def check_repo(value, **_):
    text = check_line(value, spaces=False)
    if text.startswith("-"):
        raise Invalid("must be a repository URL or path, not an option")
    return text


def check_wsgi(value, empty=False, **_):
    if empty and value == "":
        return value
    return full(WSGI, value, "module:attribute or module:factory(), as gunicorn names it")


def check_env_name(value, **_):
    return full(ENV_NAME, value, "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")


def check_header_name(value, **_):
    return full(HEADER_NAME, value, "a header name (letters, digits and -)")


def check_header_value(value, **_):
    text = value if isinstance(value, str) else str(value)
    if CONTROL.search(text) or re.search(r'["\\${}]', text):
        raise Invalid("must be one line without '\"', backslashes, '$', '{' or '}' (nginx would read them "
                      "as its own syntax or variables)")
    return text


def check_email(value, **_):
    return full(EMAIL, value, "an e-mail address (name@example.com)")


def check_https_url(value, **_):
    return full(HTTPS_URL, value, "an https:// URL")


def check_size(value, **_):
    return full(SIZE_NGINX, value if isinstance(value, str) else str(value), "an nginx size (10m)")


def check_expires(value, **_):
    return full(EXPIRES, value if isinstance(value, str) else str(value), "an nginx time (7d, max, off)")


def check_choice(value, choices=(), **_):
    if value not in choices:
        raise Invalid(f"must be one of {', '.join(map(str, choices))}")
    return value


def check_pem(value, marker="CERTIFICATE", **_):
    text = as_text(value, "PEM text")
    if f"-----BEGIN {marker}-----" not in text and not (
            marker == "PRIVATE KEY" and re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)):
        raise Invalid(f"must be PEM text (-----BEGIN {marker}-----)", quote=False)
    return text


def check_service_overrides(value, **_):
    if not isinstance(value, dict):
        raise Invalid("must be a map of systemd settings to values")
    for key, setting in value.items():
        if key not in SERVICE_OVERRIDES:
            raise Invalid(f"may set resource and timeout settings only ({', '.join(sorted(SERVICE_OVERRIDES))}); "
                          f"{shown(key)} is not one of them")
        text = setting if isinstance(setting, str) else str(setting)
        if isinstance(setting, bool):
            text = "yes" if setting else "no"
        if not re.fullmatch(SERVICE_OVERRIDES[key], text):
            raise Invalid(f"has an invalid value for {key}: {shown(setting)}")
    return value


def check_list(value, elements, unique=False, min_length=0, distinct_from=(), options=None, **_):
    """A list whose every element is of type ELEMENTS; returns the checked elements."""
    if not isinstance(value, (list, tuple)):
        raise Invalid("must be a list")
    if len(value) < min_length:
        raise Invalid("must not be empty" if min_length == 1 else f"must have at least {min_length} entries")
    checked = []
    for index, element in enumerate(value):
        try:
            checked.append(TYPES[elements](element, **(options or {})))
        except Invalid as error:
            detail = f"{shown(element)} " if error.quote else ""
            raise Invalid(f"entry {index + 1} {detail}{error.reason}", quote=False) from None
    if unique or distinct_from:
        seen = set()
        others = {str(other).lower() for other in distinct_from}
        for element in checked:
            key = str(element).lower()
            if key in others:
                raise Invalid(f"must not repeat {shown(element)}, which the site answers for already "
                              "(names are compared without case)")
            if unique and key in seen:
                raise Invalid(f"names {shown(element)} twice (names are compared without case)")
            seen.add(key)
    return checked


def check_dict(value, keys=None, values=None, key_options=None, value_options=None, **_):
    if not isinstance(value, dict):
        raise Invalid("must be a map")
    for key, item in value.items():
        try:
            if keys:
                TYPES[keys](key, **(key_options or {}))
        except Invalid as error:
            raise Invalid(f"has a key {shown(key)} that {error.reason}", quote=False) from None
        try:
            if values:
                TYPES[values](item, **(value_options or {}))
        except Invalid as error:
            detail = f" ({shown(item)})" if error.quote else ""
            raise Invalid(f"has a value for {key}{detail} that {error.reason}", quote=False) from None
    return value


def check_record(value, fields, **_):
    """A map of known FIELDS: {field: [type, options, required]}; unknown
    fields are refused, missing required ones named."""
    if not isinstance(value, dict):
        raise Invalid("must be a map")
    unknown = sorted(str(key) for key in value if key not in fields)
    if unknown:
        raise Invalid(f"has {', '.join(unknown)}, which is not one of {', '.join(sorted(fields))}", quote=False)
    for field, (kind, options, required) in fields.items():
        if field not in value:
            if required:
                raise Invalid(f"needs {field}", quote=False)
            continue
        try:
            TYPES[kind](value[field], **(options or {}))
        except Invalid as error:
            detail = f" {shown(value[field])}" if error.quote and not (options or {}).get("secret") else ""
            raise Invalid(f"has a {field}{detail} that {error.reason}", quote=False) from None
    return value


def check_nginx_directive(value, **_):
    """One nginx directive of the user's, on one line and ending with ";":
    no block (a location of nginx_proxy_locations holds those), and no
    second directive outside quotes. nginx -t judges the rest."""
    text = check_line(value)
    unquoted = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'', '""', text.strip())
    if not re.fullmatch(r"[a-z_][a-z0-9_]*(\s[^;{}#]*)?;", unquoted):
        raise Invalid("must be one nginx directive ending with \";\" (a name, its arguments, no braces, "
                      "no second directive and no comment)")
    return text


def check_rate(value, **_):
    """A limit_req rate: requests a second or a minute."""
    return full(re.compile(r"[1-9][0-9]{0,5}r/[sm]"), value, "a rate of requests a second or a minute (5r/s, 30r/m)")


def check_rate_limit(value, **_):
    """One zone of nginx_proxy_rate_limits."""
    return check_record(value, {"rate": ["rate", {}, True], "burst": ["count", {"minimum": 0, "maximum": 100000}, False],
                                "size": ["size", {}, False]})


def check_page(value, **_):
    """An HTML page nginx answers with itself: text, without "$" (nginx
    would read a variable there), at most 64 KiB."""
    text = as_text(value, "the text of an HTML page")
    if not text.strip():
        raise Invalid("must not be empty")
    if "$" in text:
        raise Invalid("must not contain \"$\", which nginx would read as a variable", quote=False)
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text):
        raise Invalid("must be text without control characters other than tabs and line breaks", quote=False)
    if len(text.encode()) > 65536:
        raise Invalid("must be at most 64 KiB", quote=False)
    return text


def check_error_pages(value, **_):
    """nginx_proxy_error_pages: 502, 503 or 504 to a page."""
    if not isinstance(value, dict):
        raise Invalid("must be a map of 502, 503 or 504 to the text of a page")
    for code, page in value.items():
        if str(code) not in ("502", "503", "504"):
            raise Invalid(f"has a key {shown(code)} that must be 502, 503 or 504 (the answers nginx gives for "
                          "the application)", quote=False)
        try:
            check_page(page)
        except Invalid as error:
            raise Invalid(f"has a page for {code} that {error.reason}", quote=False) from None
    return value


LOCATION_MATCHES = ("prefix", "exact", "prefix_no_regex", "regex", "regex_nocase")


def check_nginx_location(value, **_):
    """One entry of nginx_proxy_locations."""
    check_record(value, {
        "path": ["line", {"spaces": False}, True],
        "match": ["choice", {"choices": LOCATION_MATCHES}, False],
        "directives": ["list", {"elements": "nginx_directive"}, False],
        "proxy": ["bool", {}, False],
        "websocket": ["bool", {}, False],
        "streaming": ["bool", {}, False],
        "read_timeout": ["count", {"maximum": 86400}, False],
        "allow": ["list", {"elements": "network", "min_length": 1}, False],
        "rate_limit": ["name", {"reserved": False}, False],
        "basic_auth": ["bool", {}, False],
    })
    match = value.get("match", "prefix")
    path = value["path"]
    if match.startswith("regex"):
        if re.search(r"[{};\"'#]", path):
            raise Invalid(f"has a path {shown(path)} that must be a regular expression without braces, "
                          "\";\", quotes or \"#\"", quote=False)
    else:
        try:
            check_url_path(path)
        except Invalid as error:
            raise Invalid(f"has a path {shown(path)} that {error.reason}", quote=False) from None
        if match in ("prefix", "prefix_no_regex") and path == "/":
            raise Invalid("has the path / as a prefix, which is the role's own location (use "
                          "nginx_proxy_server_directives for the whole site)", quote=False)
    proxy = check_bool(value.get("proxy", True))
    if not proxy and (check_bool(value.get("websocket", False)) or check_bool(value.get("streaming", False))):
        raise Invalid("has websocket or streaming without proxy: they are settings of the proxy to the "
                      "application", quote=False)
    if not proxy and not value.get("directives"):
        raise Invalid("needs directives when it does not proxy to the application (a return, an alias)",
                      quote=False)
    return value


# --- several applications (flaskops_apps) ----------------------------------

# Each entry's keys and the role variable each one sets. Settings an
# application shares with the others fall back to the inventory's value of
# that variable, then to the role's default; settings that make it an
# application of its own (its name, root, bind, domains, static folder)
# come from its entry or from its name, never from another's.
APP_SHARED = {
    "repo": ("flask_app_repo", None),
    "version": ("flask_app_version", "main"),
    "wsgi_app": ("flask_app_wsgi_app", ""),
    "env": ("flask_app_env", {}),
    "secret_env": ("flask_app_secret_env", {}),
    "processes": ("flask_app_processes", {}),
    "timers": ("flask_app_timers", {}),
}
APP_OWN = {
    "name": "flask_app_name",
    "root": "flask_app_root",
    "bind": "gunicorn_bind",
    "server_name": "nginx_proxy_server_name",
    "aliases": "nginx_proxy_server_aliases",
    "static_dir": "nginx_proxy_static_dir",
    "upstreams": "nginx_proxy_upstreams",
}
APP_FIELDS = {
    "name": ["name", {}, True],
    "repo": ["repo", {}, False],
    "version": ["git_ref", {}, False],
    "wsgi_app": ["wsgi", {}, False],
    "env": ["dict", {"keys": "env_name", "values": "line", "value_options": {"empty": True}}, False],
    "secret_env": ["dict", {"keys": "env_name"}, False],
    "processes": ["dict", {"keys": "name"}, False],
    "timers": ["dict", {"keys": "name"}, False],
    "root": ["path", {"system": "refuse", "hidden": "refuse", "data": "refuse", "dotted": "refuse"}, False],
    "bind": ["bind", {}, False],
    "server_name": ["domain", {"no_www": True}, False],
    "aliases": ["list", {"elements": "domain", "unique": True}, False],
    "static_dir": ["path", {"hidden": "refuse", "data": "refuse"}, False],
    "upstreams": ["list", {"elements": "upstream", "min_length": 1}, False],
}
# gunicorn_bind's default (the roles' defaults/main.yml; a unit test
# compares them).
DEFAULT_BIND = "127.0.0.1:8000"


def unix_bind(name):
    """An application's bind when nginx runs on its host: a socket of its own."""
    return f"unix:/run/gunicorn-{name}.sock"


def app_vars(entry, host, colocated):
    """The role variables of one entry of flaskops_apps on a host whose own
    variables are HOST (a mapping) and which runs nginx when COLOCATED."""
    name = entry["name"]
    found = {"flask_app_name": name}
    for key, (variable, default) in APP_SHARED.items():
        found[variable] = entry[key] if key in entry else host.get(variable, default)
    found["flask_app_root"] = entry.get("root", f"/srv/{name}")
    if "bind" in entry:
        found["gunicorn_bind"] = entry["bind"]
    elif colocated:
        found["gunicorn_bind"] = unix_bind(name)
    else:
        found["gunicorn_bind"] = host.get("gunicorn_bind", DEFAULT_BIND)
    found["nginx_proxy_server_name"] = entry.get("server_name", host.get("nginx_proxy_server_name"))
    found["nginx_proxy_server_aliases"] = entry.get("aliases", [])
    found["nginx_proxy_static_dir"] = entry.get("static_dir", "")
    found["nginx_proxy_upstreams"] = entry.get("upstreams", [found["gunicorn_bind"]])
    return found


def domains_of(found):
    """The names a site answers for: its domain, www.<domain> (redirected),
    and its aliases, without case."""
    server = str(found.get("nginx_proxy_server_name") or "").lower()
    names = {server, f"www.{server}"} if server else set()
    return names | {str(alias).lower() for alias in found.get("nginx_proxy_server_aliases") or []}


def bind_key(bind):
    """What two binds would both take: a socket path, or an address family's
    port (an unspecified address takes the port on every address)."""
    info = bind_info(bind)
    if info["kind"] == "unix":
        return ("unix", info["path"])
    return ("tcp", info["port"], info["host"] if info["scope"] != "public" else "*")


def binds_clash(left, right):
    if left[0] != right[0]:
        return False
    if left[0] == "unix":
        return left == right
    return left[1] == right[1] and "*" in (left[2], right[2]) or left == right


def check_apps(value, host=None, colocated=False, public=False, **_):
    """flaskops_apps: a list of applications, each a map of APP_FIELDS, no
    two with the same name, root, bind or domain on this host."""
    if not isinstance(value, (list, tuple)):
        raise Invalid("must be a list of applications, each a map with a name")
    if not value:
        raise Invalid("must list at least one application (leave it out for the single application of "
                      "flask_app_name)")
    host = host if host is not None else {}
    seen = []
    for index, entry in enumerate(value):
        named = isinstance(entry, dict) and isinstance(entry.get("name"), str) and NAME.fullmatch(entry["name"])
        label = f"entry {index + 1}" + (f" ({entry['name']})" if named else "")
        try:
            check_record(entry, dict(APP_FIELDS, bind=["bind", {"public": public}, False]))
        except Invalid as error:
            raise Invalid(f"{label} {error.reason}", quote=False) from None
        found = app_vars(entry, host, colocated)
        for key, variable in (("repo", "flask_app_repo"), ("server_name", "nginx_proxy_server_name")):
            if not found.get(variable):
                raise Invalid(f"{label} needs {key} (or {variable} for every application)", quote=False)
        for other_label, other in seen:
            clash = None
            if other["flask_app_name"] == found["flask_app_name"]:
                clash = "its name", "each application needs a name of its own"
            elif is_under(found["flask_app_root"], [other["flask_app_root"]]) or is_under(
                    other["flask_app_root"], [found["flask_app_root"]]):
                clash = (f"its root ({found['flask_app_root']} and {other['flask_app_root']})",
                         "an application's root holds nothing of another's")
            elif binds_clash(bind_key(found["gunicorn_bind"]), bind_key(other["gunicorn_bind"])):
                clash = (f"its bind ({found['gunicorn_bind']} and {other['gunicorn_bind']})",
                         "give each application its own bind (on a fleet, its own port)")
            else:
                shared = sorted(domains_of(found) & domains_of(other))
                if shared:
                    clash = (f"the domain {shared[0]}",
                             "names are compared without case, and www.<server_name> belongs to its site")
            if clash:
                raise Invalid(f"{label} shares {clash[0]} with {other_label}: {clash[1]}", quote=False)
        seen.append((label, found))
    return value


def app_names(apps):
    """The names flaskops_apps gives, as far as it reads as a list of maps
    (for the choices of flaskops_app; check_apps says what is wrong)."""
    if not isinstance(apps, (list, tuple)):
        return []
    return [entry.get("name") for entry in apps if isinstance(entry, dict) and isinstance(entry.get("name"), str)]


def app_settings(apps, hostvars, groups, host, selected=""):
    """The applications a run acts on, on HOST: each as the role variables
    its entry of flaskops_apps sets (all of them, or the one named
    SELECTED). On a proxy, an application's upstreams are its bind on every
    server of group app that lists it (a unix socket on this host only).
    Without flaskops_apps (APPS none): one empty entry, the inventory's own
    application, whose variables the run leaves as they are.
    """
    if apps is None:
        return [{}]
    mine = hostvars[host]
    web = list(groups.get("web", []))
    found = []
    for entry in apps:
        if selected and entry["name"] != selected:
            continue
        settings = app_vars(entry, mine, host in web)
        if "upstreams" not in entry and host in web:
            upstreams = []
            for server in groups.get("app", []):
                theirs = next((other for other in hostvars[server].get("flaskops_apps") or []
                               if other.get("name") == entry["name"]), None)
                if theirs is None:
                    continue
                bind = app_vars(theirs, hostvars[server], server in web)["gunicorn_bind"]
                if server == host or not str(bind).startswith("unix:"):
                    upstreams.append(bind)
            settings["nginx_proxy_upstreams"] = upstreams or settings["nginx_proxy_upstreams"]
        found.append(settings)
    return found


TYPES = {
    "name": check_name, "account": check_account, "domain": check_domain, "path": check_path,
    "relative_path": check_relative_path, "filename": check_filename, "url_path": check_url_path,
    "bind": check_bind, "address": check_address, "network": check_network, "port": check_port,
    "count": check_count, "bool": check_bool, "line": check_line, "command": check_command,
    "requirement": check_requirement, "git_ref": check_git_ref, "commit": check_commit,
    "repo": check_repo, "wsgi": check_wsgi, "env_name": check_env_name,
    "header_name": check_header_name, "header_value": check_header_value, "email": check_email,
    "https_url": check_https_url, "size": check_size, "expires": check_expires,
    "choice": check_choice, "pem": check_pem, "service_overrides": check_service_overrides,
    "login": check_login, "python_name": check_python_name, "url_prefix": check_url_prefix,
    "upstream": check_upstream, "any": check_any, "list": check_list, "dict": check_dict,
    "record": check_record, "apps": check_apps, "nginx_directive": check_nginx_directive,
    "nginx_location": check_nginx_location, "rate": check_rate, "rate_limit": check_rate_limit,
    "page": check_page, "realm": check_realm, "error_pages": check_error_pages,
}


def input_errors(checks):
    """The messages for CHECKS that fail, one a variable, each naming it.

    CHECKS is a list of [variable, value, type] or [variable, value, type,
    options]; options are the type's (see TYPES). A value of a secret
    type is never quoted.
    """
    errors = []
    for entry in checks:
        variable, value, kind = entry[0], entry[1], entry[2]
        options = dict(entry[3]) if len(entry) > 3 and entry[3] else {}
        if options.pop("skip", False):
            continue
        hint = options.pop("hint", "")
        try:
            TYPES[kind](value, **options)
        except Invalid as error:
            got = f"; got {shown(value)}" if error.quote and not options.get("secret") else ""
            errors.append(f"{variable} {error.reason}{got}." + (f" {hint}" if hint else ""))
    return errors


def same_domain(left, right):
    """Whether two domain names are the same name (compared without case)."""
    return str(left).rstrip(".").lower() == str(right).rstrip(".").lower()


def safe_bind_info(value):
    try:
        return bind_info(value)
    except Invalid as error:
        return {"kind": "invalid", "error": error.reason, "path": "", "host": "", "port": 0,
                "family": 0, "scope": "invalid", "address": ""}


def network_family(value):
    """4 or 6 for an address or network, 0 when it does not parse."""
    try:
        network = parse_network(str(value))
    except ValueError:
        return 0
    return network.version if network else 0


class FilterModule:
    """The collection's validation filters."""

    def filters(self):
        return {
            "input_errors": input_errors,
            "bind_info": safe_bind_info,
            "network_family": network_family,
            "same_domain": same_domain,
            "app_settings": app_settings,
            "app_names": app_names,
        }
