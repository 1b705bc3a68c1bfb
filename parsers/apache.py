"""Apache httpd's configuration (2.2 and 2.4, laid out as FreeBSD's ports install them): the
virtual hosts and the URL mappings that serve Mailman 2.1's pages and pipermail archives.

The main file is the first of ``CONFIG_CANDIDATES`` that exists. It is read the way Apache's own
reader (``server/util.c``, ``server/config.c``) reads it, without running anything:

* one directive per line; a backslash as the very last character of a line joins the next line
  to it (a comment line too, as in Apache); a line whose first non-blank character is ``#`` is
  a comment (a ``#`` later in a line is an ordinary character); directive and section names are
  case-insensitive;
* arguments are split at white space; an argument that starts with ``"`` or ``'`` runs to the
  matching quote (``\\"`` inside it is a quote, ``\\\\`` a backslash). An unterminated quote runs
  to the end of the line: Apache accepts that, it is reported here;
* ``${NAME}`` is replaced by the value of an earlier ``Define NAME value``;
* sections ``<Name args>`` ... ``</Name>`` nest and must be closed in the file that opens them.
  The conditional sections (``<IfModule>``, ``<IfDefine>``, ``<IfVersion>``, ...) are taken as
  true: the old host's modules and ``-D`` flags are not known. ``<Macro>`` bodies are templates
  that only ``Use`` expands; they are skipped and reported;
* ``Include`` and ``IncludeOptional`` read files in place, relative to the ``ServerRoot`` in force
  at that line (default ``/usr/local`` for the ports' files under ``/usr/local/etc``).
  Wildcards (``*``, ``?``, ``[...]``) work in any path component, as in Apache 2.4; matches are
  taken in name order, a name starting with a dot only when the pattern does, and a directory
  stands for every file below it. A missing file, or a wildcard that matches nothing, is a
  warning for ``Include`` (Apache 2.4 refuses to start) and nothing for ``IncludeOptional``;
  include loops are reported and cut.

Broken structure (an unclosed section, a closing tag without its opening one, a section line
without ``>``) is a finding; the directives around it are still read, inside the sections that
are open at that point.

What goes into ``Web``: the version (from the folder, else from 2.4-only or 2.2-only access
syntax), ``ServerRoot``, the main ``ServerName`` (port and scheme removed), the ``Listen``
directives as written, every ``<VirtualHost>`` (names, addresses as written, TLS files), the
``ScriptAlias``/``Alias`` mappings of Mailman's CGI folder, public archive and icons (and,
as ``other_aliases``, the ones of anything else: content served under the same names), the
``<Directory>`` blocks over Mailman's folders with their ``Options``, and the ``Redirect*`` and
``RewriteRule`` lines that touch Mailman's URLs, with what Apache makes of them (the status
code, a rule's flags and ``RewriteCond`` lines, the section around it, whether RewriteEngine
is on). A redirect touches them when its path or target names Mailman, or when its path covers
a path mapped to Mailman: the site root (``Redirect permanent / https://...``), a folder above
(``/cgi-bin/``) or below one. What the new web server makes of them is the emitters' business,
not this reader's.

Left out: access control (``Require``, ``Order``/``Allow``), authentication, ``<Location>``
and ``<Files>`` options, ``AliasMatch``/``ScriptAliasMatch`` (reported when they name Mailman's
folders, not mapped), ``.htaccess`` files, modules' own files (``TypesConfig``), and the
evaluation of conditional sections.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field

from migrate.core.model import (ConfigFile, Finding, Severity, Source, Web, WebAlias, WebAliasKind,
                                WebDirectory, WebVirtualHost)
from parsers.base import IncludeBudget, Tree, TreeError, present, read_text

#: Where Apache's main configuration file is looked for, in order.
CONFIG_CANDIDATES = (
    "/usr/local/etc/apache24/httpd.conf",
    "/usr/local/etc/apache22/httpd.conf",
    "/usr/local/etc/apache2/httpd.conf",
    "/usr/local/etc/apache/httpd.conf",
    "/etc/apache2/apache2.conf",
    "/etc/httpd/conf/httpd.conf",
)
_VERSION_FOLDERS = {"apache24": "2.4", "apache22": "2.2"}
_MAX_INCLUDE_DEPTH = 32
#: How many files the ``Include`` lines of one configuration may read in all (a file included
#: twice counts twice; see ``IncludeBudget``).
MAX_INCLUDE_READS = 1_000
_CONDITIONAL = {"ifmodule", "ifdefine", "ifversion", "iffile", "ifdirective", "ifsection"}
_SPACE = " \t\n\v\f\r"  # apr_isspace: ASCII white space only
_WILDCARD = re.compile(r"[*?\[]")
_DEFINE_REF = re.compile(r"\$\{([A-Za-z0-9_:.-]+)\}")
_MAILMAN_URL = re.compile(r"mailman|pipermail|listinfo", re.IGNORECASE)
#: ``Require`` arguments that exist only in Apache 2.4 (2.2 had ``user``, ``group``, ``valid-user``).
_REQUIRE_24 = {"all", "ip", "host", "env", "method", "expr", "local", "forward-dns"}
_REDIRECT_DIRECTIVES = {"redirect", "redirectmatch", "redirectpermanent", "redirecttemp"}
_REDIRECT_WORDS = {"permanent": 301, "temp": 302, "seeother": 303, "gone": 410}


@dataclass
class ApacheResult:
    web: Web | None = None
    findings: list[Finding] = field(default_factory=list)
    files: list[ConfigFile] = field(default_factory=list)  # the main file and every include


@dataclass(eq=False)
class Section:
    """An opened ``<Name args>`` section (compared by identity: each opening is its own).

    ``parent`` is the section it is in (across include files); ``vhost`` and ``scope`` are
    worked out once, when it opens: the ``<VirtualHost>`` it is in (itself included), and the
    innermost section around its contents that is not a conditional one (None: server level).
    """

    name: str  # lower case, without the angle bracket: "virtualhost", "directory"
    args: list[str]
    source: Source
    parent: Section | None = field(default=None, repr=False)
    vhost: Section | None = field(init=False, default=None, repr=False)
    scope: Section | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        outer_vhost = self.parent.vhost if self.parent else None
        outer_scope = self.parent.scope if self.parent else None
        self.vhost = self if self.name == "virtualhost" else outer_vhost
        self.scope = outer_scope if self.name in _CONDITIONAL else self

    def label(self) -> str:
        """The opening tag as Apache users know it, e.g. ``<VirtualHost *:80>``."""
        tag = _SECTION_NAMES.get(self.name, self.name)
        return f"<{tag} {' '.join(self.args)}>" if self.args else f"<{tag}>"


_SECTION_NAMES = {
    "virtualhost": "VirtualHost", "directory": "Directory", "directorymatch": "DirectoryMatch",
    "location": "Location", "locationmatch": "LocationMatch", "files": "Files",
    "filesmatch": "FilesMatch", "ifmodule": "IfModule", "ifdefine": "IfDefine",
    "ifversion": "IfVersion", "macro": "Macro", "limit": "Limit", "limitexcept": "LimitExcept",
}


@dataclass
class Directive:
    """One directive as read: name in lower case, arguments unquoted, the text as written."""

    name: str
    args: list[str]
    text: str  # the logical line, continuation lines joined, stripped
    source: Source
    section: Section | None = None  # the innermost section it is in

    @property
    def vhost(self) -> Section | None:
        return self.section.vhost if self.section else None

    @property
    def scope(self) -> Section | None:
        """The innermost section that is not a conditional one (None: server level)."""
        return self.section.scope if self.section else None


# --- reading: lines, words, sections, includes ---------------------------------------------------


def logical_lines(lines: list[str]) -> list[tuple[int, str]]:
    """Join backslash-continued lines: (number of the first physical line, joined text).

    As Apache's ``ap_cfg_getline``: the backslash must be the line's very last character; it is
    removed and the next line appended as it stands (its leading blanks kept).
    """
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        start = i + 1
        parts = [lines[i]]
        i += 1
        while parts[-1].endswith("\\") and i < len(lines):
            parts[-1] = parts[-1][:-1]
            parts.append(lines[i])
            i += 1
        out.append((start, "".join(parts)))
    return out


def split_words(text: str) -> tuple[list[str], bool]:
    """Split arguments as Apache's ``ap_getword_conf`` does; the flag says a quote was left open."""
    words: list[str] = []
    open_quote = False
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n:
            return words, open_quote
        quote = text[i]
        if quote in "\"'":
            j = i + 1
            chars: list[str] = []
            while j < n and text[j] != quote:
                if text[j] == "\\" and j + 1 < n and text[j + 1] in (quote, "\\"):
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= n:
                open_quote = True
            words.append("".join(chars))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in _SPACE:
                j += 1
            words.append(re.sub(r"\\\\", r"\\", text[i:j]))
            i = j


class _Reader:
    """Reads the main file and its includes, in Apache's order, into a flat list of directives."""

    def __init__(self, tree: Tree, server_root: str) -> None:
        self.tree = tree
        self.server_root = server_root
        self.directives: list[Directive] = []
        self.sections: list[Section] = []  # every section opened, in order
        self.findings: list[Finding] = []
        self.files: list[ConfigFile] = []
        self.defines: dict[str, str] = {}
        self._stack: list[str] = []  # the files being read, outermost first (include loops)
        self.budget = IncludeBudget(MAX_INCLUDE_READS)
        self.over_budget = False  # an include was skipped (reported once)

    # file system access that never raises
    def _is_dir(self, path: str) -> bool:
        try:
            return self.tree.is_dir(path)
        except (TreeError, OSError):
            return False

    def _exists(self, path: str) -> bool:
        try:
            return self.tree.exists(path)
        except (TreeError, OSError):
            return False

    def _list_dir(self, path: str) -> list[str]:
        try:
            return sorted(self.tree.list_dir(path))
        except (TreeError, OSError):
            return []

    def _resolve(self, path: str) -> str:
        try:
            return self.tree.resolve(path)
        except (TreeError, OSError):
            return path

    def read_file(self, path: str, parent: Section | None, via: Source | None) -> None:
        real = self._resolve(path)
        if real in self._stack:
            chain = " -> ".join([*self._stack[self._stack.index(real):], real])
            self.findings.append(Finding(
                "apache.include-cycle", Severity.WARNING,
                f"include loop: {chain}; not read again",
                "Apache would recurse until its nesting limit and refuse to start; remove the "
                "Include that points back.", via or Source(path, 1)))
            return
        if len(self._stack) >= _MAX_INCLUDE_DEPTH:
            self.findings.append(Finding(
                "apache.include-cycle", Severity.WARNING,
                f"includes nested more than {_MAX_INCLUDE_DEPTH} deep at {path}; not read",
                "Check the Include lines for a loop through symlinks or directories.",
                via or Source(path, 1)))
            return
        if via is not None and self.budget.spent:
            if not self.over_budget:
                self.over_budget = True
                self.findings.append(Finding(
                    "apache.include-budget", Severity.ERROR,
                    f"included file {path} is not read, nor is any later one: "
                    f"{self.budget.describe()} (Apache reads a file again each time it is "
                    "included); the inventory lacks what they hold",
                    "Include each file once (includes that repeat a file grow exponentially "
                    "with their depth), then inspect again.", via))
            return
        tf = read_text(self.tree, path, "apache", required=via is None)
        if via is not None:
            self.budget.spend(tf)
        self.findings.extend(tf.findings)
        if tf.text is None and tf.config is None and not tf.findings and via is not None:
            self.findings.append(Finding(
                "apache.include-missing", Severity.WARNING, f"included file {path} is missing",
                "Copy the file from the old host (Apache refuses to start without it).", via))
        if tf.config and all(f.path != tf.config.path for f in self.files):
            self.files.append(tf.config)
        if tf.text is None:
            return
        self._stack.append(real)
        try:
            self._read_lines(tf.path, tf.lines(), parent)
        finally:
            self._stack.pop()

    def _read_lines(self, file: str, lines: list[str], parent: Section | None) -> None:
        opened: list[Section] = []  # sections opened in this file, innermost last
        macro: Section | None = None  # inside a <Macro> body: skip up to its end
        macro_depth = 0
        for number, raw in logical_lines(lines):
            text = raw.strip(_SPACE)
            if not text or text.startswith("#"):
                continue
            source = Source(file, number)
            text = self._substitute(text)
            words, open_quote = split_words(text)
            if not words:
                continue
            first = words[0]
            if macro is not None:
                if first.lower().rstrip(">") == "<macro":
                    macro_depth += 1
                elif first.lower().rstrip(">") == "</macro":
                    macro_depth -= 1
                    if macro_depth == 0:
                        macro = None
                continue
            if open_quote:
                self.findings.append(Finding(
                    "apache.syntax", Severity.WARNING,
                    f"unterminated quote in {first}: the argument runs to the end of the line",
                    "Close the quote; Apache takes the rest of the line as the argument, which "
                    "is rarely what was meant.", source))
            if first.startswith("</"):
                self._close(first, source, opened)
                continue
            current = opened[-1] if opened else parent
            if first.startswith("<") and len(first) > 1:
                section = self._open(text, source, current)
                if section is None:
                    continue
                if section.name == "macro":
                    macro, macro_depth = section, 1
                    self.findings.append(Finding(
                        "apache.macro", Severity.WARNING,
                        f"{section.label()} is a mod_macro template; its body is not read",
                        "Expand the Use lines by hand (apachectl -D DUMP_CONFIG on the old host "
                        "shows the result) if the macro defines Mailman's virtual hosts.",
                        source))
                    continue
                opened.append(section)
                continue
            directive = Directive(first.lower(), words[1:], text, source, current)
            self.directives.append(directive)
            self._apply(directive)
        for section in opened:
            self.findings.append(Finding(
                "apache.syntax", Severity.WARNING,
                f"{section.label()} is never closed in {file}",
                "Apache refuses to start with a section left open (\"was not closed\"); the "
                "directives after it were read as inside it. Check that the copy is complete.",
                section.source))
        if macro is not None:
            self.findings.append(Finding(
                "apache.syntax", Severity.WARNING, f"{macro.label()} is never closed in {file}",
                "Apache refuses to start with a section left open; the rest of the file was "
                "skipped as the macro's body.", macro.source))

    def _substitute(self, text: str) -> str:
        if "${" not in text or not self.defines:
            return text
        return _DEFINE_REF.sub(lambda m: self.defines.get(m.group(1), m.group(0)), text)

    def _open(self, text: str, source: Source, parent: Section | None) -> Section | None:
        head = re.match(r"<([^\s>]+)", text)
        if head is None:
            self.findings.append(Finding(
                "apache.syntax", Severity.WARNING, f"cannot read {text[:60]!r}: no section name",
                "Apache refuses to start with this line; fix or remove it.", source))
            return None
        name = head.group(1).lower()
        rest = text[head.end():]
        end = rest.rfind(">")
        if end < 0:
            self.findings.append(Finding(
                "apache.syntax", Severity.WARNING,
                f"<{_SECTION_NAMES.get(name, name)}> section line has no closing '>'",
                "Apache refuses to start with this line (\"directive missing closing '>'\"); "
                "it is read as if the '>' were at the end.", source))
            end = len(rest)
        args, _ = split_words(rest[:end])
        section = Section(name, args, source, parent)
        if name == "virtualhost":
            outer = parent.scope if parent else None
            if outer is not None:
                self.findings.append(Finding(
                    "apache.syntax", Severity.WARNING,
                    f"<VirtualHost> inside {outer.label()} (line {outer.source.line})",
                    "Apache refuses to start (\"<VirtualHost> cannot occur within ... "
                    "section\"); close the outer section first.", source))
        self.sections.append(section)
        return section

    def _close(self, word: str, source: Source, opened: list[Section]) -> None:
        name = word[2:].rstrip(">").lower()
        tag = _SECTION_NAMES.get(name, name)
        if not word.endswith(">"):
            self.findings.append(Finding(
                "apache.syntax", Severity.WARNING, f"</{tag} has no closing '>'",
                f"Apache refuses to start with this line; it is read as </{tag}>.", source))
        if opened and opened[-1].name == name:
            opened.pop()
            return
        match = next((i for i in range(len(opened) - 1, -1, -1) if opened[i].name == name), None)
        if match is None:
            self.findings.append(Finding(
                "apache.syntax", Severity.WARNING,
                f"</{tag}> without a matching <{tag}> in this file; ignored",
                f"Apache refuses to start (\"</{tag}> without matching <{tag}> section\"); "
                "remove the line or restore the opening tag.", source))
            return
        inner = opened[-1]
        self.findings.append(Finding(
            "apache.syntax", Severity.WARNING,
            f"</{tag}> while {inner.label()} (line {inner.source.line}) is still open",
            f"Apache refuses to start (\"Expected </{_SECTION_NAMES.get(inner.name, inner.name)}>"
            f" but saw </{tag}>\"); both sections are taken as closed here.", source))
        del opened[match:]

    def _apply(self, d: Directive) -> None:
        """Directives that change how the rest is read: ServerRoot, Define, Include."""
        if d.name == "serverroot" and d.args:
            self.server_root = posixpath.normpath(d.args[0]) if d.args[0] else self.server_root
        elif d.name == "define" and d.args:
            self.defines[d.args[0]] = d.args[1] if len(d.args) > 1 else ""
        elif d.name == "undefine" and d.args:
            self.defines.pop(d.args[0], None)
        elif d.name in ("include", "includeoptional"):
            self._include(d, optional=d.name == "includeoptional")

    def _include(self, d: Directive, optional: bool) -> None:
        if not d.args or not d.args[0]:
            self.findings.append(Finding(
                "apache.syntax", Severity.WARNING, f"{d.text!r} names no file",
                "Apache refuses to start; give the file to include.", d.source))
            return
        pattern = d.args[0]
        path = pattern if pattern.startswith("/") else posixpath.join(self.server_root, pattern)
        paths, problem = self._expand(posixpath.normpath(path), d.source)
        if problem and not optional:
            self.findings.append(Finding(
                "apache.include-missing", Severity.WARNING,
                f"Include {pattern}: {problem}",
                "Apache refuses to start when an Include finds nothing (IncludeOptional does "
                "not): copy the file from the old host, or check the ServerRoot "
                f"({self.server_root}) it is relative to.", d.source))
        for file in paths:
            self.read_file(file, d.section, d.source)

    def _expand(self, path: str, via: Source) -> tuple[list[str], str | None]:
        """The files an include path names, in Apache's order, and why part of it names none."""
        bases = ["/"]
        parts = [p for p in path.split("/") if p]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if not _WILDCARD.search(part):
                bases = [posixpath.join(b, part) for b in bases]
                continue
            matched: list[str] = []
            for base in bases:
                for name in self._list_dir(base):
                    if name.startswith(".") and not part.startswith("."):
                        continue  # apr_fnmatch with APR_FNM_PERIOD
                    full = posixpath.join(base, name)
                    if fnmatch.fnmatchcase(name, part) and (last or self._is_dir(full)):
                        matched.append(full)
            if not matched:
                return [], f"no match for the wildcard {part!r} in {', '.join(bases)}"
            bases = sorted(matched)
        files: list[str] = []
        problem: str | None = None
        for base in bases:
            if self._is_dir(base):
                files.extend(self._walk(base, (), via))
            elif self._exists(base):
                files.append(base)
            else:
                problem = problem or f"{base} does not exist"
        return files, problem

    def _walk(self, folder: str, above: tuple[str, ...], via: Source) -> list[str]:
        """Every file below a folder, sorted by full path (Apache includes a folder so)."""
        real = self._resolve(folder)
        if real in above or len(above) >= _MAX_INCLUDE_DEPTH:
            self.findings.append(Finding(
                "apache.include-cycle", Severity.WARNING,
                f"included folder {folder} leads back to {real}; not read again",
                "Apache stops at its folder nesting limit and refuses to start; remove the "
                "symlink that points back up.", via))
            return []
        out: list[str] = []
        for name in self._list_dir(folder):
            full = posixpath.join(folder, name)
            if self._is_dir(full):
                out.extend(self._walk(full, (*above, real), via))
            else:
                out.append(full)
        return out


# --- the Web inventory from the directives --------------------------------------------------------


def _strip_port(name: str) -> str:
    """``ServerName [scheme://]host[:port]`` without scheme and port (``[v6]`` kept)."""
    name = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", name)
    if name.startswith("["):
        return name[:name.index("]") + 1] if "]" in name else name
    return name.split(":", 1)[0]


def _norm(path: str) -> str:
    return posixpath.normpath(path) if path.startswith("/") else path.rstrip("/")


def _under(path: str, folder: str | None) -> bool:
    if not folder or not path.startswith("/"):
        return False
    path, folder = _norm(path), _norm(folder)
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _url_parts(url: str) -> list[str]:
    return [p for p in url.split("/") if p]


def detect_prefix(directives: list[Directive]) -> str | None:
    """Mailman's prefix from the ScriptAlias of its CGI folder: the folder above ``cgi-bin``."""
    for d in directives:
        if d.name != "scriptalias" or len(d.args) < 2:
            continue
        url, target = d.args[0], d.args[1]
        if "mailman" in [p.lower() for p in _url_parts(url)] or "mailman" in target.lower():
            folder = _norm(target)
            if posixpath.basename(folder) == "cgi-bin":
                return posixpath.dirname(folder)
    return None


def _version(config: str, directives: list[Directive]) -> str | None:
    for part in config.split("/"):
        if part in _VERSION_FOLDERS:
            return _VERSION_FOLDERS[part]
    hint_24 = hint_22 = False
    for d in directives:
        if d.name == "require" and d.args and d.args[0].lower() in _REQUIRE_24:
            hint_24 = True
        elif d.name == "includeoptional":
            hint_24 = True
        elif d.name in ("order", "namevirtualhost") or (
                d.name in ("allow", "deny") and d.args and d.args[0].lower() == "from"):
            hint_22 = True
    return "2.4" if hint_24 else "2.2" if hint_22 else None


def default_server_root(config: str) -> str:
    """Where relative paths start before any ServerRoot line: ``/usr/local`` for the ports,
    else the folder of the file (its parent when that folder is ``conf``)."""
    if config.startswith("/usr/local/etc/"):
        return "/usr/local"
    folder = posixpath.dirname(config)
    return posixpath.dirname(folder) if posixpath.basename(folder) == "conf" else folder


class _Builder:
    """Turns the directives into ``Web``: servers first, then Mailman's mappings and rewrites."""

    def __init__(self, reader: _Reader, web: Web, prefix: str | None) -> None:
        self.reader = reader
        self.web = web
        self.prefix = _norm(prefix) if prefix else None
        self.findings: list[Finding] = []
        self.vhosts: dict[Section, WebVirtualHost] = {}
        self.mapped: set[str] = set()  # the URL paths mapped to Mailman (``_redirects``)
        self.rewrite_on: dict[Section | None, bool] = {}

    def build(self) -> None:
        for section in self.reader.sections:
            if section.name == "virtualhost":
                vhost = WebVirtualHost(listen=list(section.args), source=section.source)
                self.vhosts[section] = vhost
                self.web.virtual_hosts.append(vhost)
        ssl_engine: dict[Section, bool] = {}
        for d in self.reader.directives:
            vsec = d.vhost
            vhost = self.vhosts.get(vsec) if vsec else None
            at_server = d.scope is vsec  # not inside <Directory>, <Location>, ...
            arg = d.args[0] if d.args else None
            if d.name == "serverroot" and arg:
                self.web.server_root = arg
            elif d.name == "listen" and d.args and vhost is None:
                self.web.listen.append(" ".join(d.args))
            elif d.name == "servername" and arg and at_server:
                if vhost is None:
                    self.web.server_name = _strip_port(arg)
                else:
                    vhost.server_name = _strip_port(arg)
            elif d.name == "serveralias" and vhost is not None and at_server:
                vhost.server_aliases.extend(d.args)
            elif d.name == "rewriteengine" and arg and at_server:
                self.rewrite_on[vsec] = arg.lower() == "on"
            elif vhost is not None and vsec is not None and arg is not None:
                if d.name == "sslengine":
                    ssl_engine[vsec] = arg.lower() == "on"
                elif d.name == "sslcertificatefile":
                    vhost.certificate = arg
                elif d.name == "sslcertificatekeyfile":
                    vhost.private_key = arg
                elif d.name == "sslcertificatechainfile":
                    vhost.certificate_chain = arg
        for section, vhost in self.vhosts.items():
            on_443 = any(a.endswith(":443") for a in vhost.listen)
            vhost.tls = ssl_engine.get(section, False) or (on_443 and bool(vhost.certificate))
        if self.prefix is None:
            self.prefix = detect_prefix(self.reader.directives)
        self._aliases()
        self._directories()
        self._redirects()

    # -- aliases

    def _where(self, d: Directive) -> str:
        vsec = d.vhost
        vhost = self.vhosts.get(vsec) if vsec else None
        if vsec is None or vhost is None:
            return "main server"
        name = f" {vhost.server_name}" if vhost.server_name else ""
        return f"{vsec.label()}{name}"

    def _kind_of(self, kind: WebAliasKind, url: str, target: str) -> str | None:
        """Which of Mailman's mappings an alias is ("script", "pipermail", "icons") or None."""
        parts = [p.lower() for p in _url_parts(url)]
        folder = _norm(target)
        if kind == WebAliasKind.SCRIPT_ALIAS:
            if "mailman" in parts or (_under(folder, self.prefix) and "cgi-bin" in folder):
                return "script"
            return None
        if folder.endswith("archives/public") or parts == ["pipermail"]:
            return "pipermail"
        if _under(folder, self.prefix) and posixpath.basename(folder) == "icons":
            return "icons"
        if parts == ["icons"] and "mailman" in folder.lower():
            return "icons"
        return None

    def _aliases(self) -> None:
        found: dict[str, list[tuple[WebAlias, Directive]]] = {}
        for d in self.reader.directives:
            if d.name in ("scriptaliasmatch", "aliasmatch") and len(d.args) >= 2:
                if _MAILMAN_URL.search(" ".join(d.args)) or _under(d.args[1], self.prefix):
                    self.findings.append(Finding(
                        "apache.alias-match", Severity.WARNING,
                        f"{d.text} ({self._where(d)}) maps Mailman's URLs by a pattern",
                        "Not read into the inventory (migrate reads Mailman's URLs from "
                        "ScriptAlias and Alias only): give the new web server the same mapping "
                        "by hand.", d.source))
                continue
            if d.name not in ("scriptalias", "alias") or not d.args:
                continue
            if len(d.args) >= 2:
                url, target = d.args[0], d.args[1]
            elif d.scope is not None and d.scope.name == "location" and d.scope.args:
                url, target = d.scope.args[0], d.args[0]  # Alias inside <Location> (2.4)
            else:
                continue
            kind = WebAliasKind.SCRIPT_ALIAS if d.name == "scriptalias" else WebAliasKind.ALIAS
            which = self._kind_of(kind, url, target)
            alias = WebAlias(kind, url, target, source=d.source)
            vsec = d.vhost
            if which is None:  # not Mailman's: other content served under the same names
                if vsec is not None and vsec in self.vhosts:
                    self.vhosts[vsec].other_aliases.append(alias)
                elif vsec is None:
                    self.web.other_aliases.append(alias)
                continue
            if vsec is not None and vsec in self.vhosts:
                self.vhosts[vsec].aliases.append(alias)
            found.setdefault(which, []).append((alias, d))
        for which, candidates in found.items():
            # The main server's mapping is the one every virtual host inherits: prefer it.
            chosen, _ = min(candidates, key=lambda c: c[1].vhost is not None)
            setattr(self.web, f"{which}_alias", chosen)
            for alias, d in candidates:
                if _norm(alias.target) != _norm(chosen.target):
                    self.findings.append(Finding(
                        "apache.alias-differs", Severity.WARNING,
                        f"{d.text} ({self._where(d)}) maps {alias.url_path} to {alias.target}, "
                        f"but {chosen.source} maps {chosen.url_path} to {chosen.target}",
                        "Mailman's URLs lead to different folders depending on the virtual "
                        "host; decide which one the new host serves.", d.source))

    def _directories(self) -> None:
        roots = {self.prefix} if self.prefix else set()
        for alias in (self.web.script_alias, self.web.pipermail_alias, self.web.icons_alias):
            if alias is not None:
                roots.add(_norm(alias.target))
        for v in self.vhosts.values():
            roots.update(_norm(a.target) for a in v.aliases if not a.kind.redirects)
        options: dict[Section, list[str]] = {}
        for d in self.reader.directives:
            if d.name == "options" and d.scope is not None and d.scope.name == "directory":
                options.setdefault(d.scope, []).extend(d.args)
        for section in self.reader.sections:
            if section.name != "directory" or not section.args or section.args[0] == "~":
                continue
            path = section.args[0]
            if any(_under(path, root) for root in roots):
                self.web.directories.append(
                    WebDirectory(path, options.get(section, []), section.source))

    # -- redirects and rewrites

    def _redirects(self) -> None:
        self.mapped = self._mailman_paths()
        conditions: dict[Section | None, list[Directive]] = {}  # pending, by section
        for d in self.reader.directives:
            if d.name == "rewritecond":
                conditions.setdefault(d.section, []).append(d)
                continue
            if d.name == "rewriterule":
                conds = conditions.pop(d.section, [])
                self._rewrite(d, conds)
            elif d.name in _REDIRECT_DIRECTIVES:
                self._redirect(d)

    def _record(self, d: Directive, alias: WebAlias) -> None:
        vsec = d.vhost
        if vsec is not None and vsec in self.vhosts:
            self.vhosts[vsec].aliases.append(alias)
        else:
            self.web.redirects.append(alias)

    def _section(self, d: Directive) -> str | None:
        """The section a directive is in below its server or virtual host, as written."""
        return d.scope.label() if d.scope is not None and d.scope is not d.vhost else None

    def _redirect(self, d: Directive) -> None:
        args = list(d.args)
        status: str | None = None
        if d.name == "redirectpermanent":
            status = "permanent"
        elif d.name == "redirecttemp":
            status = "temp"
        elif args and (args[0].lower() in _REDIRECT_WORDS or args[0].isdigit()):
            status = args.pop(0)
        section = self._section(d)
        if len(args) == 1 and d.scope is not None and d.scope.name == "location" and \
                d.scope.args and d.name != "redirectmatch" and not _is_gone(status):
            args.insert(0, d.scope.args[0])  # Redirect URL inside <Location /path>
            outer = d.scope.parent.scope if d.scope.parent else None
            section = outer.label() if outer is not None and outer is not d.vhost else None
        if not args:
            return
        url, target = args[0], (args[1] if len(args) > 1 else "")
        kind = WebAliasKind.REDIRECT_MATCH if d.name == "redirectmatch" else WebAliasKind.REDIRECT
        if not _MAILMAN_URL.search(f"{url} {target}") and not self._covers(kind, url):
            return
        code = _redirect_code(status)
        self._record(d, WebAlias(kind, url, target, status, d.text, d.source, code=code,
                                 section=section))
        if code is None:
            self.findings.append(Finding(
                "apache.redirect-status", Severity.WARNING,
                f"{d.text.split(None, 1)[0]} with the status {status!r}, which is not an HTTP "
                f"status code ({self._where(d)})",
                "Apache takes a status word (permanent, temp, seeother, gone) or a "
                "three-digit code there; check the copy of the file. The redirect is recorded "
                "without a status code.", d.source))

    def _mailman_paths(self) -> set[str]:
        """The URL paths the old host mapped to Mailman's folders (its ScriptAlias and Alias
        lines, in the main server and in each virtual host)."""
        aliases = [self.web.script_alias, self.web.pipermail_alias, self.web.icons_alias]
        for v in self.vhosts.values():
            aliases.extend(a for a in v.aliases if not a.kind.redirects)
        return {a.url_path for a in aliases if a is not None and a.url_path.startswith("/")}

    def _covers(self, kind: WebAliasKind, url: str) -> bool:
        """Whether a redirect of ``url`` takes requests for Mailman's pages: the site root
        (``Redirect permanent / https://...`` takes every path), a folder above a path mapped to
        Mailman (``/cgi-bin/`` above ``/cgi-bin/mailman/``) or below one, or a RedirectMatch
        pattern that matches ``/`` or whose fixed start (``^/cgi-bin/``) begins such a path or
        lies below one.

        A pattern is only run on ``/``: it is the old host's, and a pattern that backtracks
        without end would hang the inspection on a longer path."""
        if kind == WebAliasKind.REDIRECT_MATCH:
            try:
                if re.search(url, "/"):
                    return True
            except (re.error, RecursionError, OverflowError):
                return False  # not a pattern Python reads: today's rule alone
            start = _literal_start(url)
            return len(start) > 1 and any(mapped.startswith(start) or start.startswith(mapped)
                                          for mapped in self.mapped)
        return url == "/" or url.startswith("/") and any(
            _under(mapped, url) or _under(url, mapped) for mapped in self.mapped)

    def _rewrite(self, d: Directive, conds: list[Directive]) -> None:
        if len(d.args) < 2:
            return
        pattern, target = d.args[0], d.args[1]
        written = d.args[2] if len(d.args) > 2 else None
        if not _MAILMAN_URL.search(f"{pattern} {target}"):
            return
        flags = [w.strip().lower() for w in (written or "").strip("[]").split(",") if w.strip()]
        enabled = self.rewrite_on.get(d.vhost, False)
        self._record(d, WebAlias(
            WebAliasKind.REWRITE_RULE, pattern, target, written, d.text, d.source,
            code=_rewrite_code(flags), flags=flags, conditions=[c.text for c in conds],
            section=self._section(d), enabled=enabled))
        if not enabled:
            self.findings.append(Finding(
                "apache.rewrite-off", Severity.INFO,
                f"RewriteRule on Mailman's URLs where RewriteEngine is not on ({self._where(d)}):"
                f" {d.text}",
                "Apache ignores this rule, and so will the new host; remove it from the old "
                "configuration if it is a leftover.", d.source))


def _literal_start(pattern: str) -> str:
    """The fixed path an anchored pattern starts with (``^/cgi-bin/(.*)$``: ``/cgi-bin/``);
    "" when it is not anchored."""
    if not pattern.startswith("^"):
        return ""
    out: list[str] = []
    for char in pattern[1:]:
        if char in "*?{":
            return "".join(out[:-1])  # the quantifier makes the character before optional
        if char in ".^$+[]\\|()":
            break
        out.append(char)
    return "".join(out)


def _is_gone(status: str | None) -> bool:
    return status is not None and status.lower() == "gone"


def _rewrite_code(flags: list[str]) -> int | None:
    """The HTTP status a RewriteRule answers with: R (302, or R=NNN), F (403), G (410)."""
    code: int | None = None
    for word in flags:
        name, _, value = word.partition("=")
        if name in ("r", "redirect"):
            code = int(value) if re.fullmatch(r"[0-9]{3}", value) else 302 if not value else None
            if code is None:
                return None
        elif name in ("f", "forbidden"):
            return 403
        elif name in ("g", "gone"):
            return 410
    return code


def _redirect_code(status: str | None) -> int | None:
    if status is None:
        return 302
    word = status.lower()
    if word in _REDIRECT_WORDS:
        return _REDIRECT_WORDS[word]
    return int(word) if re.fullmatch(r"[0-9]{3}", word) else None


# --- entry point -----------------------------------------------------------------------------------


def find_config(tree: Tree) -> str | None:
    """The first of ``CONFIG_CANDIDATES`` present on the host."""
    for path in CONFIG_CANDIDATES:
        try:
            if present(tree, path):  # a FIFO or a broken link is read, and reported
                return path
        except (TreeError, OSError):
            continue
    return None


def parse_apache(tree: Tree, mailman_prefix: str | None = None) -> ApacheResult:
    """Read Apache's configuration into ``Web`` (None when the host has no Apache config).

    ``mailman_prefix`` is Mailman's folder (``/usr/local/mailman``); None finds it from the
    ScriptAlias of Mailman's ``cgi-bin``.
    """
    result = ApacheResult()
    config = find_config(tree)
    if config is None:
        return result
    reader = _Reader(tree, default_server_root(config))
    reader.read_file(config, (), None)
    web = Web(kind="apache", version=_version(config, reader.directives),
              config_files=reader.files)
    builder = _Builder(reader, web, mailman_prefix)
    builder.build()
    if web.server_root is None:
        web.server_root = default_server_root(config)
    result.web = web
    result.files = reader.files
    result.findings = reader.findings + builder.findings
    return result
