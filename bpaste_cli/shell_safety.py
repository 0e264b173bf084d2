"""Safety class of a shell command, sound by construction: read-only only when provably so.

The command is lexed like bash does (quotes, escapes, `;` `&&` `||` `|` `&`, subshells, `$( )`, process
substitution, here-docs, redirections, `NAME=value` prefixes) into simple commands. Each simple command is
read-only only when its program is enabled and every flag and operand matches that program's explicit grammar
below (short-flag clusters expanded, `--long=value` split, flags that take a value consume it); a flag or
shape not on the list makes it `unknown`, a flag or shape known to write makes it `mutating`. Anything the
lexer cannot follow exactly (backticks, `$(( ))`, `case`, function definitions, unterminated quotes) is
`unknown`. A word whose value is only known at run time (`$VAR`, a glob, `$( )`) is accepted only where no
value could change the verdict. The verdict of a command is the worst verdict of its parts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

READ_ONLY, UNKNOWN, MUTATING = "read-only", "unknown", "mutating"
_RANK = {READ_ONLY: 0, UNKNOWN: 1, MUTATING: 2}
_SAFE_SINKS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})
_RESERVED_PREFIX = frozenset({"!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until"})
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\+?=")
# environment variables a command may set without changing which programs run or what they write
_SAFE_VARIABLES = re.compile(r"LC_[A-Z]+|LANG|LANGUAGE|TZ|COLUMNS|LINES|TERM|NO_COLOR|FORCE_COLOR|CLICOLOR(_FORCE)?|"
                             r"GREP_COLORS?|GIT_OPTIONAL_LOCKS|POSIXLY_CORRECT")
_TRUSTED_DIRS = ("/bin/", "/usr/bin/", "/usr/local/bin/", "/sbin/", "/usr/sbin/")


def worst(*verdicts: str) -> str:
    """The least safe of several verdicts (mutating > unknown > read-only)."""
    return max(verdicts, key=_RANK.__getitem__, default=READ_ONLY)


class _Unsure(Exception):
    """The command uses a construct whose effect the lexer cannot follow exactly."""


@dataclass(frozen=True)
class Word:
    """One shell word after quote removal. `text` is exact only when `literal`; `prefix` is its literal start."""

    text: str
    literal: bool = True
    splits: bool = False  # unquoted expansion or glob: may become zero or several words
    prefix: str = ""

    @property
    def may_be_option(self) -> bool:
        return self.text.startswith("-") if self.literal else (self.prefix == "" or self.prefix.startswith("-"))


@dataclass(frozen=True)
class _Op:
    text: str


# ---------------------------------------------------------------------------------------------- lexing


class _Lexer:
    _OPS = ("&&", "||", ";;", "|&", ";", "|", "&", "(", ")")
    _REDIRS = ("&>>", "&>", "<<<", "<<-", "<<", "<>", "<&", ">>", ">&", ">|", "<", ">")

    def __init__(self, source: str):
        self.s = source
        self.i = 0
        self.nested: list[list[Any]] = []  # token lists of $( ), <( ), >( ) bodies
        self.heredocs: list[tuple[str, bool, bool]] = []  # pending (delimiter, quoted, strip tabs)

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def tokens(self, closer: bool = False) -> list[Any]:
        out: list[Any] = []
        depth = 0
        while True:
            c = self.peek()
            if c == "":
                if closer:
                    raise _Unsure("unterminated substitution")
                return out
            if c in " \t":
                self.i += 1
            elif c == "\\" and self.peek(1) == "\n":
                self.i += 2
            elif c == "#":
                while self.peek() not in ("", "\n"):
                    self.i += 1
            elif c == "\n":
                self.i += 1
                out.append(_Op(";"))
                self._heredoc_bodies()
            elif c == ")" and closer and depth == 0:
                self.i += 1
                return out
            elif c in "<>" and self.peek(1) == "(":
                out.append(self._word())
            elif (op := self._redirection()) is not None:
                out.append(op)
                if op.text in ("<<", "<<-"):
                    out.append(self._heredoc_delimiter(op.text == "<<-"))
            elif (op := next((o for o in self._OPS if self.s.startswith(o, self.i)), None)) is not None:
                if op == ";;":
                    raise _Unsure("case clause")
                self.i += len(op)
                depth += {"(": 1, ")": -1}.get(op, 0)
                if depth < 0:
                    raise _Unsure("unbalanced parenthesis")
                out.append(_Op(op))
            else:
                out.append(self._word())

    def _redirection(self) -> _Op | None:
        for r in self._REDIRS:
            if self.s.startswith(r, self.i):
                self.i += len(r)
                return _Op(r)
        return None

    def _heredoc_delimiter(self, strip: bool) -> Word:
        while self.peek() in (" ", "\t"):
            self.i += 1
        start = self.i
        w = self._word()
        raw = self.s[start:self.i]
        if not isinstance(w, Word) or not w.literal or not raw:
            raise _Unsure("here-document delimiter")
        self.heredocs.append((w.text, any(q in raw for q in "'\"\\"), strip))
        return w

    def _heredoc_bodies(self) -> None:
        pending, self.heredocs = self.heredocs, []
        for delim, quoted, strip in pending:
            while True:
                if self.i >= len(self.s):
                    raise _Unsure("unterminated here-document")
                end = self.s.find("\n", self.i)
                end = len(self.s) if end < 0 else end
                line = self.s[self.i:end]
                self.i = end + 1
                if (line.lstrip("\t") if strip else line) == delim:
                    break
                if not quoted and ("`" in line or "$(" in line):
                    raise _Unsure("substitution in a here-document")

    def _nested(self) -> None:
        self.nested.append(self.tokens(closer=True))

    def _word(self) -> Word:
        """One word: quote removal, and whether expansions make its value unknown or splittable."""
        text: list[str] = []
        prefix: str | None = None  # literal text before the first expansion
        literal, splits = True, False

        def expansion(split: bool) -> None:
            nonlocal literal, splits, prefix
            if prefix is None:
                prefix = "".join(text)
            literal = False
            splits = splits or split

        start = self.i
        while True:
            c = self.peek()
            if c == "" or c in " \t\n;&|()":
                break
            if c in "<>":
                if self.peek(1) == "(" and self.i == start:
                    self.i += 2
                    self._nested()
                    expansion(False)
                    continue
                if "".join(text).isdigit() and literal:
                    self.i = start  # an fd number: "2>" is lexed as a redirection below
                    return self._fd_redirection()
                break
            if c == "\\":
                if self.peek(1) == "":
                    raise _Unsure("trailing backslash")
                if self.peek(1) != "\n":
                    text.append(self.peek(1))
                self.i += 2
            elif c == "'":
                end = self.s.find("'", self.i + 1)
                if end < 0:
                    raise _Unsure("unterminated quote")
                text.append(self.s[self.i + 1:end])
                self.i = end + 1
            elif c == '"':
                self.i += 1
                self._double_quoted(text, expansion)
            elif c == "`":
                raise _Unsure("backtick substitution")
            elif c == "$":
                self._dollar(text, expansion, quoted=False)
            else:
                if c in "*?" or c == "[" and "]" in self.s[self.i:] or c == "{" and "}" in self.s[self.i:]:
                    if not (c in "[{" and self.i == start and self.peek(1) in ("", " ", "\t", "\n")):
                        expansion(True)
                text.append(c)
                self.i += 1
        return Word("".join(text), literal, splits, "".join(text) if prefix is None else prefix)

    def _fd_redirection(self) -> Any:
        while self.peek().isdigit():
            self.i += 1
        return self._redirection()

    def _double_quoted(self, text: list[str], expansion: Callable[[bool], None]) -> None:
        while True:
            c = self.peek()
            if c == "":
                raise _Unsure("unterminated quote")
            if c == '"':
                self.i += 1
                return
            if c == "\\" and self.peek(1) in '$`"\\\n':
                if self.peek(1) != "\n":
                    text.append(self.peek(1))
                self.i += 2
            elif c == "`":
                raise _Unsure("backtick substitution")
            elif c == "$":
                self._dollar(text, expansion, quoted=True)
            else:
                text.append(c)
                self.i += 1

    def _dollar(self, text: list[str], expansion: Callable[[bool], None], quoted: bool) -> None:
        nxt = self.peek(1)
        if nxt == "(":
            if self.peek(2) == "(":
                raise _Unsure("arithmetic expansion")
            self.i += 2
            self._nested()
            expansion(not quoted)
        elif nxt == "{":
            end = self.s.find("}", self.i)
            if end < 0:
                raise _Unsure("unterminated parameter expansion")
            body = self.s[self.i + 2:end]
            if any(c in body for c in "`$({'\"\\"):
                raise _Unsure("parameter expansion with quotes or nested expansions")
            self.i = end + 1
            expansion(not quoted or "@" in body)  # "${a[@]}" is several words
        elif nxt in ("'", '"') and not quoted:
            self.i += 1  # $'...' and $"..." : value not decoded here
            if nxt == '"':
                self.i += 1
                self._double_quoted([], expansion)
            else:
                m = re.compile(r"'((?:[^'\\]|\\.)*)'", re.S).match(self.s, self.i)
                if m is None:
                    raise _Unsure("unterminated quote")
                self.i = m.end()
            expansion(False)
        elif nxt and (nxt.isalnum() or nxt in "_@*#?$!-"):
            self.i += 2
            if nxt.isalpha() or nxt == "_":
                while self.peek().isalnum() or self.peek() == "_":
                    self.i += 1
            expansion(not quoted or nxt in "@*")  # "$@" is several words
        else:
            text.append("$")
            self.i += 1


# ---------------------------------------------------------------------------------------------- grammars


@dataclass(frozen=True)
class Spec:
    """The flags and operand shapes that keep one program read-only (anything else: unknown).

    `short`: flag letters; `valued`: letters taking a value (attached, `-n5`, or the next word);
    `optional`: letters with an optional attached value (`-M50%`); `long`/`long_valued`/`long_optional`: the
    same for `--name` (exact names only: abbreviations are refused); `writes`: options that write a file
    (-> mutating); `numeric`: accepts `-NUM`; `dynamic_ok`: no argument vector at all can make it write or run
    a program, so run-time words (globs, `$VAR`) are harmless; `check`: a last look at options and operands.
    """

    short: str = ""
    valued: str = ""
    optional: str = ""
    long: frozenset[str] = frozenset()
    long_valued: frozenset[str] = frozenset()
    long_optional: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    numeric: bool = False
    dynamic_ok: bool = False
    attached: bool = True  # a valued letter may take the rest of its cluster as value (getopt); tree may not
    any_args: bool = False  # the program has no option or operand that writes or runs anything
    check: Callable[[list[tuple[str, Word | None]], list[Word]], str] | None = None


def _spec(short: str = "", valued: str = "", long: str = "", long_valued: str = "", long_optional: str = "",
          writes: str = "", optional: str = "", **kw: Any) -> Spec:
    names = lambda s: frozenset("--" + n for n in s.split())  # noqa: E731
    return Spec(short, valued, optional, names(long), names(long_valued), names(long_optional),
                frozenset(writes.split()), **kw)


def parse_args(spec: Spec, words: list[Word]) -> tuple[list[tuple[str, Word | None]], list[Word]] | str:
    """Options and operands by the spec's grammar, or a verdict (unknown / mutating) when it leaves it."""
    opts: list[tuple[str, Word | None]] = []
    operands: list[Word] = []
    only_operands = False
    i = 0

    def value() -> Word | None:
        nonlocal i
        if i >= len(words) or words[i].splits:
            return None
        i += 1
        return words[i - 1]

    while i < len(words):
        w = words[i]
        i += 1
        if w.splits and not spec.dynamic_ok:
            return UNKNOWN
        if only_operands or not w.may_be_option:
            operands.append(w)
            continue
        if not w.literal:
            if not spec.dynamic_ok:
                return UNKNOWN
            operands.append(w)
            continue
        t = w.text
        if t == "--":
            only_operands = True
            continue
        if t == "-":
            operands.append(w)
            continue
        if t.startswith("--"):
            name, eq, val = t.partition("=")
            if name in spec.writes:
                return MUTATING
            if name in spec.long and not eq:
                opts.append((name, None))
            elif name in spec.long_optional:
                opts.append((name, Word(val) if eq else None))
            elif name in spec.long_valued:
                v = Word(val) if eq else value()
                if v is None:
                    return UNKNOWN
                opts.append((name, v))
            else:
                return UNKNOWN
            continue
        if spec.numeric and t[1:].isdigit():
            opts.append(("-#", Word(t[1:])))
            continue
        letters, j = t[1:], 0
        while j < len(letters):
            c = letters[j]
            j += 1
            if "-" + c in spec.writes:
                return MUTATING
            if c in spec.short:
                opts.append(("-" + c, None))
            elif c in spec.valued:
                if letters[j:] and not spec.attached:
                    return UNKNOWN
                v = Word(letters[j:]) if letters[j:] else value()
                if v is None:
                    return UNKNOWN
                opts.append(("-" + c, v))
                break
            elif c in spec.optional:
                opts.append(("-" + c, Word(letters[j:]) if letters[j:] else None))
                break
            else:
                return UNKNOWN
    return opts, operands


def _check_spec(spec: Spec, words: list[Word]) -> str:
    if spec.any_args:
        return READ_ONLY
    parsed = parse_args(spec, words)
    if isinstance(parsed, str):
        return parsed
    return spec.check(*parsed) if spec.check else READ_ONLY


# --- per-program checks


def _sed_script_ok(s: str) -> bool:
    """GNU sed script without the commands that write files or run programs (w, W, e, s///w, s///e)."""
    i, n = 0, len(s)

    def skip(chars: str) -> None:
        nonlocal i
        while i < n and s[i] in chars:
            i += 1

    def delimited(delim: str) -> bool:  # up to the next unescaped delimiter
        nonlocal i
        while i < n and s[i] != delim:
            i += 2 if s[i] == "\\" else 1
        if i >= n:
            return False
        i += 1
        return True

    while True:
        skip(" \t\n;")
        if i >= n:
            return True
        for _ in range(2):  # up to two addresses
            if s[i].isdigit():
                skip("0123456789")
                if i < n and s[i] == "~":
                    i += 1
                    skip("0123456789")
            elif s[i] == "$":
                i += 1
            elif s[i] in "/\\":
                if s[i] == "\\":
                    i += 1
                    if i >= n:
                        return False
                delim = s[i]
                i += 1
                if not delimited(delim):
                    return False
                skip("IM")
            skip(" \t")
            if i < n and s[i] == ",":
                i += 1
                skip(" \t")
                if i < n and s[i] in "+~":
                    i += 1
                if i >= n:
                    return False
                continue
            break
        skip(" \t")
        if i < n and s[i] == "!":
            i += 1
            skip(" \t")
        if i >= n:
            return False
        c = s[i]
        i += 1
        if c in "{}=dDgGhHnNpPxzF":
            pass
        elif c in "qQlL":
            skip(" \t")
            skip("0123456789")
        elif c in "btT:v":
            skip(" \t")
            while i < n and s[i] not in ";\n}" and not (c != ":" and s[i] in " \t"):
                i += 1
        elif c in "aicrR#":
            while i < n and s[i] != "\n":  # text, file to read, or comment: runs to the end of the line
                i += 2 if s[i] == "\\" else 1
        elif c in "sy":
            if i >= n or s[i] in "\\\n":
                return False
            delim = s[i]
            i += 1
            if not (delimited(delim) and delimited(delim)):
                return False
            if c == "s":
                while i < n and s[i] in "gpiImM0123456789":
                    i += 1
        else:
            return False  # w, W, e and anything not known
        skip(" \t")
        if i < n and s[i] not in ";\n}#":
            return False


def _sed(opts: list[tuple[str, Word | None]], operands: list[Word]) -> str:
    scripts = [v for name, v in opts if name in ("-e", "--expression")]
    if any(name in ("-f", "--file") for name, _ in opts):
        return UNKNOWN  # the script lives in a file
    if not scripts:
        if not operands:
            return UNKNOWN
        scripts = [operands[0]]
    if not all(w and w.literal for w in scripts):
        return UNKNOWN
    return READ_ONLY if _sed_script_ok("\n".join(w.text for w in scripts)) else UNKNOWN  # sed joins -e scripts


# system(), print > file, print | cmd, cmd | getline, @load, gawk's /inet/ network files
_AWK_FORBIDDEN = re.compile(r"system|/inet|[>|@]")


def _awk(opts: list[tuple[str, Word | None]], operands: list[Word]) -> str:
    if not operands or not operands[0].literal:
        return UNKNOWN
    program = operands[0].text.replace("||", "")
    return UNKNOWN if _AWK_FORBIDDEN.search(program) else READ_ONLY


def _uniq(opts: list[tuple[str, Word | None]], operands: list[Word]) -> str:
    return READ_ONLY if len(operands) <= 1 else MUTATING  # uniq INPUT OUTPUT writes OUTPUT


def _date(opts: list[tuple[str, Word | None]], operands: list[Word]) -> str:
    if not operands:
        return READ_ONLY
    if len(operands) == 1 and operands[0].literal and operands[0].text.startswith("+"):
        return READ_ONLY
    return MUTATING if operands[0].literal else UNKNOWN  # `date MMDDhhmm` sets the clock


def _no_operands(opts: list[tuple[str, Word | None]], operands: list[Word]) -> str:
    return READ_ONLY if not operands else MUTATING


def _less(opts: list[tuple[str, Word | None]], operands: list[Word]) -> str:
    return UNKNOWN if any(w.text.startswith("+") or not w.literal for w in operands) else READ_ONLY  # +cmd


def _tee(opts: list[tuple[str, Word | None]], operands: list[Word]) -> str:
    return READ_ONLY if all(w.literal and w.text in _SAFE_SINKS for w in operands) else MUTATING


_FIND_VALUED = frozenset(
    "-name -iname -path -ipath -wholename -iwholename -regex -iregex -lname -ilname -type -xtype -size -perm "
    "-user -group -uid -gid -links -inum -samefile -newer -anewer -cnewer -mtime -mmin -atime -amin -ctime -cmin "
    "-used -maxdepth -mindepth -regextype -fstype -context -printf".split())
_FIND_FLAGS = frozenset(
    "-print -print0 -ls -prune -quit -true -false -empty -readable -writable -executable -nouser -nogroup -depth "
    "-daystart -follow -mount -xdev -noleaf -ignore_readdir_race -noignore_readdir_race -not -a -o -and -or ! ( ) , "
    "-help --help -version --version".split())
_FIND_WRITES = frozenset("-delete -fprint -fprint0 -fprintf -fls".split())


def _find(words: list[Word]) -> str:
    """find [-H -L -P -D x -Ox] [paths] [expression]: only tests and stdout actions."""
    if any(w.splits for w in words):
        return UNKNOWN
    i = 0
    while i < len(words) and words[i].literal and words[i].text in ("-H", "-L", "-P", "-D") or (
            i < len(words) and words[i].literal and re.fullmatch(r"-O\d", words[i].text)):
        i += 2 if words[i].text == "-D" else 1
    expression = False
    while i < len(words):
        w = words[i]
        i += 1
        if not w.literal:
            if expression or w.may_be_option:
                return UNKNOWN
            continue
        t = w.text
        if not expression and not (t.startswith("-") or t in ("!", "(", ")", ",")):
            continue  # a starting point
        expression = True
        if t in _FIND_WRITES:
            return MUTATING
        if t in _FIND_FLAGS:
            continue
        if t in _FIND_VALUED or re.fullmatch(r"-newer[aBcmt][aBcmt]", t):
            if i >= len(words):
                return UNKNOWN
            i += 1
            continue
        return UNKNOWN  # -exec, -execdir, -ok, -okdir and anything not known
    return READ_ONLY


_GIT_DIFF_SHORT = "pusRzwbaWmcNigEFPtv"
_GIT_LOG = dict(
    short=_GIT_DIFF_SHORT, valued="nSGLlUO", optional="MCB", numeric=True,
    long="oneline shortstat numstat name-only name-status summary patch no-patch raw patch-with-stat "
         "patch-with-raw all graph no-decorate abbrev-commit no-abbrev first-parent merges no-merges reverse "
         "follow relative-date cached staged no-color minimal patience histogram exit-code quiet check "
         "full-index binary no-renames no-prefix merge-base left-right cherry-pick cherry-mark cherry boundary "
         "topo-order date-order author-date-order walk-reflogs no-notes simplify-by-decoration full-history "
         "ancestry-path no-ext-diff no-textconv compact-summary function-context ignore-all-space "
         "ignore-space-change ignore-blank-lines ignore-cr-at-eol ignore-space-at-eol text no-index "
         "ignore-case regexp-ignore-case extended-regexp fixed-strings basic-regexp perl-regexp all-match "
         "invert-grep remove-empty parents children use-mailmap mailmap no-mailmap source log-size cc "
         "name-rev no-walk expand-tabs no-expand-tabs stdin stat-graph-width full-diff irreversible-delete "
         "pickaxe-all pickaxe-regex no-color-moved",
    long_valued="max-count skip since until after before author committer grep format date encoding "
                "diff-algorithm src-prefix dst-prefix line-prefix word-diff-regex stat-width stat-count "
                "stat-name-width inter-hunk-context diff-filter since-as-filter max-parents min-parents",
    long_optional="stat dirstat decorate pretty abbrev color word-diff color-words find-renames find-copies "
                  "relative branches tags remotes glob notes show-notes unified ignore-submodules submodule "
                  "color-moved break-rewrites diff-merges",
    writes="--output",
)
_GIT = {
    "status": _spec("sbvz", long="short branch long verbose ahead-behind no-ahead-behind renames no-renames "
                    "show-stash no-column", long_optional="porcelain untracked-files ignored ignore-submodules "
                    "column find-renames", optional="u"),
    "log": _spec(**_GIT_LOG),
    "show": _spec(**_GIT_LOG),
    "diff": _spec(**_GIT_LOG),
    "whatchanged": _spec(**_GIT_LOG),
    "shortlog": _spec("snec", long="summary numbered email committer", long_valued="group format since until "
                      "author", long_optional="all", numeric=True),
    "rev-parse": _spec("q", long="verify quiet all branches tags remotes show-toplevel show-prefix show-cdup "
                       "git-dir absolute-git-dir git-common-dir is-inside-work-tree is-inside-git-dir "
                       "is-bare-repository is-shallow-repository symbolic symbolic-full-name local-env-vars "
                       "show-superproject-working-tree show-object-format sq-quote not revs-only no-revs flags "
                       "no-flags", long_valued="default git-path path-format since until after before",
                       long_optional="short abbrev-ref"),
    "ls-files": _spec("cdmoiksuztvf", valued="xX", long="cached deleted modified others ignored stage unmerged "
                      "killed exclude-standard error-unmatch full-name recurse-submodules directory "
                      "no-empty-directory eol deduplicate sparse", long_valued="exclude exclude-from format "
                      "exclude-per-directory", long_optional="abbrev"),
    "ls-tree": _spec("drtlz", long="name-only name-status object-only full-name full-tree long",
                     long_valued="format", long_optional="abbrev"),
    "cat-file": _spec("tsepZ", long="batch-all-objects follow-symlinks buffer unordered allow-unknown-type",
                      long_optional="batch batch-check"),
    "blame": _spec("ltpswefnc", valued="LS", optional="MC", long="reverse first-parent porcelain "
                   "line-porcelain incremental root show-name show-number show-email color-lines color-by-age "
                   "progress no-progress score-debug", long_valued="encoding contents date ignore-rev "
                   "ignore-revs-file", long_optional="abbrev"),
    "grep": _spec("ivwnlLchHEFGPIaWpoqzr", valued="efmABC", numeric=True,
                  long="cached untracked no-index no-exclude-standard exclude-standard name-only "
                       "files-with-matches files-without-match count only-matching quiet null break heading "
                       "no-color column and or not all-match recurse-submodules no-textconv full-name "
                       "line-number ignore-case word-regexp invert-match extended-regexp fixed-strings "
                       "basic-regexp perl-regexp show-function function-context text recursive no-recursive",
                  long_valued="max-depth threads max-count before-context after-context context",
                  long_optional="color"),
    "describe": _spec(long="tags all always long exact-match contains first-parent", long_valued="match "
                      "exclude candidates", long_optional="abbrev dirty broken"),
    "branch": _spec("arlvi", long="list verbose all remotes show-current no-color no-column ignore-case "
                    "omit-empty no-abbrev", long_valued="sort format points-at merged no-merged contains "
                    "no-contains", long_optional="color column abbrev"),
    "tag": _spec("li", optional="n", long="list ignore-case no-column omit-empty", long_valued="sort format "
                 "points-at merged no-merged contains no-contains", long_optional="column color"),
}


def _listing(opts: list[tuple[str, Word | None]], operands: list[Word]) -> str:
    """git branch / git tag list; operands are patterns only with -l/--list, else they create a ref."""
    if operands and not any(name in ("-l", "--list") for name, _ in opts):
        return MUTATING
    return READ_ONLY


_GIT["branch"] = replace(_GIT["branch"], check=_listing, writes=frozenset(
    "-d -D -m -M -c -C -f -u -t --delete --move --copy --force --set-upstream-to --unset-upstream "
    "--edit-description --track --no-track".split()))
_GIT["tag"] = replace(_GIT["tag"], check=_listing, writes=frozenset(
    "-a -s -d -f -m -F -u -e --delete --annotate --sign --force --message --file --edit".split()))
_GIT_GLOBAL_FLAGS = frozenset("-P --no-pager --no-optional-locks --literal-pathspecs --glob-pathspecs "
                              "--noglob-pathspecs --icase-pathspecs --no-replace-objects --bare --no-advice".split())
_GIT_GLOBAL_VALUED = frozenset("-C --git-dir --work-tree --namespace".split())


def _git(words: list[Word], git_read_only: list[str]) -> str:
    """git [safe global options] SUBCOMMAND args: -c, --exec-path, --paginate and the like are refused."""
    i = 0
    while i < len(words) and words[i].may_be_option:
        w = words[i]
        if not w.literal:
            return UNKNOWN
        if w.text in _GIT_GLOBAL_VALUED:
            if i + 1 >= len(words) or words[i + 1].splits:
                return UNKNOWN
            i += 2
        elif w.text in _GIT_GLOBAL_FLAGS or w.text.partition("=")[0] in _GIT_GLOBAL_VALUED and "=" in w.text:
            i += 1
        else:
            return UNKNOWN
    if i >= len(words) or not words[i].literal or words[i].text not in git_read_only:
        return UNKNOWN
    spec = _GIT.get(words[i].text)
    return READ_ONLY if spec is None else _check_spec(spec, words[i + 1:])  # a user's own entry: trusted


_ANY = Spec(any_args=True)
PROGRAMS: dict[str, Spec] = {
    "cat": _spec("AbeEnstTuv", long="show-all number-nonblank show-ends number squeeze-blank show-tabs "
                 "show-nonprinting help version", dynamic_ok=True),
    "head": _spec("qvz", valued="cn", long="quiet silent verbose zero-terminated help version",
                  long_valued="bytes lines", numeric=True, dynamic_ok=True),
    "tail": _spec("qvzr", valued="cn", long="quiet silent verbose zero-terminated help version",
                  long_valued="bytes lines", numeric=True, dynamic_ok=True),
    "ls": _spec("aAbBcCdDfFgGhHiklLmnNopqQrRsStuUvxXZ1", valued="ITw", long="all almost-all escape "
                "ignore-backups directory dired classify file-type human-readable si dereference "
                "dereference-command-line dereference-command-line-symlink-to-dir numeric-uid-gid literal "
                "indicator-style hide-control-chars show-control-chars quote-name recursive size inode "
                "kibibytes author no-group group-directories-first full-time context zero help version",
                long_valued="ignore hide tabsize width sort time time-style format block-size "
                "indicator-style quoting-style", long_optional="color hyperlink", dynamic_ok=True),
    "grep": _spec("EFGPiyvwxczLlmobHhnTZUsqrRaI", valued="efmABCdD", numeric=True,
                  long="extended-regexp fixed-strings basic-regexp perl-regexp ignore-case no-ignore-case "
                       "word-regexp line-regexp null-data no-messages invert-match version help byte-offset "
                       "line-number line-buffered with-filename no-filename only-matching quiet silent text "
                       "recursive dereference-recursive files-without-match files-with-matches count "
                       "initial-tab null binary",
                  long_valued="regexp file max-count label binary-files directories devices include exclude "
                              "exclude-from exclude-dir before-context after-context context",
                  long_optional="color colour", dynamic_ok=True),
    "rg": _spec("iIsSvwxFcClLnNoqpbHhUPaV0u", valued="efgtTABCmMjdrE", long="hidden no-ignore no-ignore-vcs "
                "no-ignore-parent no-ignore-dot follow with-filename no-filename no-heading heading multiline "
                "multiline-dotall pcre2 files type-list null json stats pretty column byte-offset trim vimgrep "
                "no-messages debug glob-case-insensitive smart-case case-sensitive ignore-case word-regexp "
                "line-regexp fixed-strings invert-match line-number no-line-number only-matching quiet "
                "unrestricted help version passthru crlf null-data binary text include-zero count "
                "count-matches files-with-matches files-without-match one-file-system no-config sort-files "
                "no-unicode no-require-git", long_valued="regexp file glob iglob type type-not type-add color "
                "colors max-count max-columns threads sort sortr replace max-depth max-filesize "
                "context-separator field-match-separator path-separator ignore-file engine encoding "
                "before-context after-context context"),
    "egrep": None, "fgrep": None,  # set below: same grammar as grep
    "sed": _spec("nErszu", valued="elf", long="quiet silent regexp-extended separate null-data unbuffered "
                 "posix debug sandbox binary help version", long_valued="expression file line-length",
                 writes="-i --in-place", check=_sed),
    "awk": _spec(valued="Fv", long_valued="field-separator assign", check=_awk),
    "sort": _spec("bdfgiMhmnRrVcCsuz", valued="ktST", long="ignore-leading-blanks dictionary-order ignore-case "
                  "general-numeric-sort ignore-nonprinting month-sort human-numeric-sort numeric-sort "
                  "random-sort reverse version-sort stable unique zero-terminated help version debug",
                  long_valued="key field-separator buffer-size temporary-directory parallel batch-size "
                  "files0-from random-source sort", long_optional="check", writes="-o --output"),
    "uniq": _spec("cdDuiz", valued="fsw", long="count repeated unique ignore-case zero-terminated help version",
                  long_valued="skip-fields skip-chars check-chars", long_optional="all-repeated group",
                  check=_uniq),
    "tree": _spec("adlfxiqNQpugshDFvtcUrCnASJX", valued="LPIHT", long="noreport dirsfirst du si prune "
                  "matchdirs gitignore help version ignore-case fromfile", long_valued="filelimit charset sort timefmt",
                  writes="-o", attached=False),
    "wc": _spec("cmlLw", long="bytes chars lines max-line-length words help version",
                long_valued="files0-from total", dynamic_ok=True),
    "stat": _spec("LftZ", valued="c", long="dereference file-system terse help version",
                  long_valued="format printf cached", dynamic_ok=True),
    "file": _spec("bikLhzZsNr0lEdn", valued="emFPf", long="mime mime-type mime-encoding brief dereference "
                  "no-dereference keep-going special-files uncompress no-buffer no-pad print0 raw extension "
                  "apple help version", long_valued="exclude magic-file separator files-from parameter",
                  writes="-C --compile"),
    "du": _spec("abchkmsxLPHDlS0", valued="dXtB", long="apparent-size summarize human-readable si total "
                "inodes count-links one-file-system dereference dereference-args null separate-dirs bytes "
                "help version", long_valued="max-depth exclude exclude-from threshold block-size files0-from "
                "time-style", long_optional="time", dynamic_ok=True),
    "df": _spec("ahHiklPT", valued="tBx", long="all human-readable si inodes local portability print-type "
                "total sync no-sync help version", long_valued="type exclude-type block-size",
                long_optional="output", dynamic_ok=True),
    "pwd": _spec("LP", dynamic_ok=True),
    "echo": _ANY, "true": _ANY, "false": _ANY, "test": _ANY, "[": _ANY, "cd": _ANY, "basename": _ANY,
    "dirname": _ANY, "printenv": _ANY, "which": _ANY, "type": _ANY, "whoami": _ANY, "uname": _ANY, "id": _ANY,
    "jq": _ANY, "ps": _ANY,
    "printf": _spec(),
    "date": _spec("uR", valued="dfr", optional="I", long="utc universal rfc-email help version debug",
                  long_valued="date file reference", long_optional="iso-8601 rfc-3339", writes="-s --set",
                  check=_date),
    "cut": _spec("snz", valued="bcfd", long="only-delimited complement zero-terminated help version",
                 long_valued="bytes characters fields delimiter output-delimiter", dynamic_ok=True),
    "diff": _spec("uqrNwbBiyasptTdEZcen", valued="UCWxXSFLID", long="brief recursive new-file "
                  "unidirectional-new-file ignore-all-space ignore-space-change ignore-blank-lines ignore-case "
                  "side-by-side text report-identical-files show-c-function expand-tabs initial-tab minimal "
                  "speed-large-files strip-trailing-cr suppress-common-lines left-column normal ed rcs "
                  "no-dereference ignore-tab-expansion ignore-trailing-space ignore-file-name-case "
                  "no-ignore-file-name-case help version", long_valued="exclude exclude-from label width "
                  "starting-file from-file to-file ignore-matching-lines show-function-line horizon-lines "
                  "tabsize", long_optional="color unified context", dynamic_ok=True),
    "nl": _spec("p", valued="bdfhilnsvw", long="no-renumber help version", long_valued="body-numbering "
                "section-delimiter footer-numbering header-numbering line-increment join-blank-lines "
                "number-format number-separator starting-line-number number-width", dynamic_ok=True),
    "less": _spec("NSRrXFEeiIMmnsQqwWfKcC~", valued="xjbhyz", long="help version", writes="-o -O --log-file "
                  "--LOG-FILE", check=_less),
    "more": _spec("dlfpcsue", valued="n", long="help version", check=_less),
    "realpath": _spec("emqsLPz", long="canonicalize-existing canonicalize-missing quiet strip no-symlinks "
                      "logical physical zero help version", long_valued="relative-to relative-base",
                      dynamic_ok=True),
    "readlink": _spec("femnqsvz", long="canonicalize canonicalize-existing canonicalize-missing no-newline "
                      "quiet silent verbose zero help version", dynamic_ok=True),
    "hostname": _spec("sfiIdaAy", long="short fqdn long ip-address all-ip-addresses domain alias all-fqdns "
                      "nis help version", check=_no_operands),
    "tee": _spec("aip", long="append ignore-interrupts help version", long_optional="output-error",
                 check=_tee),
}
PROGRAMS["egrep"] = PROGRAMS["fgrep"] = PROGRAMS["grep"]
for _awk_name in ("gawk", "mawk", "nawk"):
    PROGRAMS[_awk_name] = PROGRAMS["awk"]


# ---------------------------------------------------------------------------------------------- commands


@dataclass
class ShellRules:
    """The user-tunable part: which programs are enabled, which are known mutators, extra refused flags."""

    read_only: frozenset[str]
    mutating: frozenset[str]
    git_read_only: list[str]
    forbidden_flags: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_table(cls, shell: dict[str, Any]) -> ShellRules:
        return cls(frozenset(shell["read_only"]), frozenset(shell["mutating"]), list(shell["git_read_only"]),
                   dict(shell.get("forbidden_flags", {})))


def classify_command(command: str | None, rules: ShellRules) -> str:
    """read-only, mutating or unknown for one shell command line (see the module docstring)."""
    if not command or "[REDACTED" in command:
        return UNKNOWN
    lexer = _Lexer(command)
    try:
        tokens = lexer.tokens()
        if lexer.heredocs:
            raise _Unsure("here-document without a body")
        verdict = _list(tokens, rules)
        return worst(verdict, *(_list(body, rules) for body in lexer.nested))
    except _Unsure:
        return UNKNOWN


def _list(tokens: list[Any], rules: ShellRules) -> str:
    verdict = READ_ONLY
    words: list[Word] = []
    i = 0
    while i < len(tokens) and verdict != MUTATING:
        t = tokens[i]
        i += 1
        if isinstance(t, Word):
            words.append(t)
            continue
        if t.text in _Lexer._REDIRS:
            if i >= len(tokens) or not isinstance(tokens[i], Word):
                raise _Unsure("redirection without a target")
            verdict = worst(verdict, _redirect(t.text, tokens[i]))
            i += 1
            continue
        if t.text == "(" and words:
            raise _Unsure("function definition")
        verdict = worst(verdict, _simple(words, rules))
        words = []
    return worst(verdict, _simple(words, rules))


def _redirect(op: str, target: Word) -> str:
    if op == "<" and not (target.literal and not target.text.startswith(("/dev/tcp/", "/dev/udp/"))):
        return UNKNOWN  # bash opens a network connection for /dev/tcp/host/port
    if op in ("<", "<<<", "<<", "<<-"):
        return READ_ONLY
    if op in (">&", "<&") and target.literal and (target.text.isdigit() or target.text == "-"):
        return READ_ONLY
    return READ_ONLY if target.literal and target.text in _SAFE_SINKS else MUTATING


def _assignment(w: Word) -> str:
    m = _ASSIGNMENT.match(w.prefix)
    return READ_ONLY if m and _SAFE_VARIABLES.fullmatch(m.group(1)) else UNKNOWN


def _simple(words: list[Word], rules: ShellRules) -> str:
    verdict = READ_ONLY
    while words and _ASSIGNMENT.match(words[0].prefix):
        verdict = worst(verdict, _assignment(words[0]))
        words = words[1:]
    while words and words[0].literal and words[0].text in _RESERVED_PREFIX:
        words = words[1:]
    if not words:
        return verdict
    head, args = words[0], words[1:]
    if not head.literal or head.splits:
        return UNKNOWN
    name = head.text
    if "/" in name:
        if not name.startswith(_TRUSTED_DIRS):
            return UNKNOWN  # ./ls is not ls
        name = name.rsplit("/", 1)[1]
    if name == "for":
        return verdict if len(args) >= 1 and args[0].literal and args[0].text.isidentifier() else UNKNOWN
    if name in rules.mutating:
        return MUTATING
    if name not in rules.read_only:
        return UNKNOWN
    forbidden = rules.forbidden_flags.get(name, [])
    if "*" in forbidden and args or any(
            not w.literal or w.text == f or w.text.startswith(f + "=") for w in args for f in forbidden if f != "*"):
        return UNKNOWN
    wrapper = _WRAPPERS.get(name)
    if wrapper is not None:
        return worst(verdict, wrapper(args, rules))
    if name == "git":
        return worst(verdict, _git(args, rules.git_read_only))
    if name == "find":
        return worst(verdict, _find(args))
    spec = PROGRAMS.get(name)
    return worst(verdict, READ_ONLY if spec is None else _check_spec(spec, args))  # a user's own entry: trusted


# --- wrappers: programs that run another program


def _wrapped(spec: Spec, args: list[Word], lead: int = 0) -> list[Word] | str:
    """The command a wrapper runs (after its options and `lead` operands), or a verdict if they are off-grammar."""
    i = 0
    while i < len(args) and args[i].may_be_option:
        if not args[i].literal or args[i].splits:
            return UNKNOWN
        if args[i].text == "--":
            i += 1
            break
        takes = args[i].text in {f"-{c}" for c in spec.valued} | spec.long_valued
        parsed = parse_args(spec, args[i:i + 2] if takes else args[i:i + 1])
        if isinstance(parsed, str):
            return parsed
        i += 2 if takes else 1
    if any(w.splits or not w.literal for w in args[i:i + lead]):
        return UNKNOWN
    return args[i + lead:]


def _env(args: list[Word], rules: ShellRules) -> str:
    res = _wrapped(_spec("i0", valued="uC", long="ignore-environment null", long_valued="unset chdir"), args)
    return res if isinstance(res, str) else _simple(res, rules)  # NAME=value prefixes are checked there


def _command(args: list[Word], rules: ShellRules) -> str:
    if args and args[0].literal and args[0].text in ("-v", "-V"):
        return READ_ONLY  # only looks the name up
    res = _wrapped(_spec("p"), args)
    return res if isinstance(res, str) else _simple(res, rules)


def _nice(args: list[Word], rules: ShellRules) -> str:
    res = _wrapped(_spec(valued="n", long_valued="adjustment", numeric=True), args)
    return res if isinstance(res, str) else _simple(res, rules)


def _timeout(args: list[Word], rules: ShellRules) -> str:
    res = _wrapped(_spec("v", valued="sk", long="preserve-status foreground verbose", long_valued="signal "
                         "kill-after"), args, lead=1)
    if isinstance(res, str):
        return res
    return _simple(res, rules) if res else UNKNOWN


def _xargs(args: list[Word], rules: ShellRules) -> str:
    """xargs [options] cmd args: cmd gets run-time words from stdin (they may even be flags)."""
    spec = _spec("0rtx", valued="nLPsdEaI", long="null no-run-if-empty verbose exit", long_valued="max-args "
                 "max-lines max-procs max-chars delimiter eof arg-file replace")
    res = _wrapped(spec, args)
    if isinstance(res, str):
        return res
    command = res or [Word("echo")]
    return _simple(command + [Word("", literal=False, splits=True)], rules)


_WRAPPERS: dict[str, Callable[[list[Word], ShellRules], str]] = {
    "env": _env, "command": _command, "nice": _nice, "timeout": _timeout, "xargs": _xargs}


# ---------------------------------------------------------------------------------------------- reasons


def unknown_reason(command: str | None, rules: ShellRules) -> str | None:
    """Why `classify_command` finds `command` unknown: the program (or shell construct, in parentheses) of
    the first part whose verdict is unknown; None when the command is not unknown. It only explains: it walks
    the same parts with the same checks, so it never changes a verdict."""
    if classify_command(command, rules) != UNKNOWN:
        return None
    if not command:
        return "(no command)"
    if "[REDACTED" in command:
        return "(redacted)"
    lexer = _Lexer(command)
    try:
        tokens = lexer.tokens()
    except _Unsure as exc:
        return f"(shell syntax: {exc})"
    if lexer.heredocs:
        return "(shell syntax: here-document without a body)"
    for body in [tokens, *lexer.nested]:
        try:
            found = _list_reason(body, rules)
        except _Unsure as exc:
            return f"(shell syntax: {exc})"
        if found:
            return found
    return "(shell syntax)"


def _list_reason(tokens: list[Any], rules: ShellRules) -> str | None:
    words: list[Word] = []
    i = 0
    while i <= len(tokens):
        t = tokens[i] if i < len(tokens) else None
        i += 1
        if isinstance(t, Word):
            words.append(t)
            continue
        if t is not None and t.text in _Lexer._REDIRS:
            if i < len(tokens) and isinstance(tokens[i], Word) and _redirect(t.text, tokens[i]) == UNKNOWN:
                return f"(redirection {t.text})"
            i += 1
            continue
        if words and _simple(words, rules) == UNKNOWN:
            return _program(words)
        words = []
    return None


def _program(words: list[Word]) -> str:
    """The program a simple command runs, as the classifier names it (after assignments and reserved words)."""
    while words and _ASSIGNMENT.match(words[0].prefix):
        if _assignment(words[0]) == UNKNOWN:
            return "(variable assignment)"
        words = words[1:]
    while words and words[0].literal and words[0].text in _RESERVED_PREFIX:
        words = words[1:]
    if not words:
        return "(shell syntax)"
    head = words[0]
    if not head.literal or head.splits:
        return "(program from a variable or expansion)"
    name = head.text
    if name in ("env", "command", "nice", "timeout", "xargs", "sudo") and len(words) > 1:
        inner = [w for w in words[1:] if not (w.literal and w.text.startswith("-"))][1 if name == "timeout" else 0:]
        if inner and inner[0].literal:
            return f"{name} {inner[0].text.rsplit('/', 1)[-1]}"
    name = name.rsplit("/", 1)[-1] if name.startswith(_TRUSTED_DIRS) else name
    sub = next((w for w in words[1:] if not (w.literal and w.text.startswith("-"))), None)
    if not name.strip():
        return "(blank program name)"
    return f"git {sub.text}" if name == "git" and sub is not None and sub.literal else name
