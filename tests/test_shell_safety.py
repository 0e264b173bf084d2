"""Shell-command safety: regressions, a table of verdicts, and two properties.

Soundness by execution: whatever the classifier calls read-only is run for real with `bash -c` in a
throwaway tree (HOME and TMPDIR inside it, no network where `unshare -n` works, a timeout) and must leave
every path, size, mtime and content hash unchanged. Monotonicity: appending a write redirection or a
mutating command never yields read-only. `BPASTE_FUZZ_EXAMPLES` raises the number of examples.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpaste_cli.safety import load_safety

T = load_safety()
EXAMPLES = int(os.environ.get("BPASTE_FUZZ_EXAMPLES", "60"))


def verdict(command: str) -> str:
    return T.classify("Bash", orjson.dumps({"command": command}).decode()).safety


# Each of these was classed read-only by the classifier at 6b0f65f (the defect as filed).
REGRESSIONS = [
    ("sed -Ei 's/a/b/' f", "mutating"),
    ("sed -ri 's/a/b/' f", "mutating"),
    ("sed -ni 's/a/b/' f", "mutating"),
    ("find . -fprint0 F", "mutating"),
    ("find . -fls F", "mutating"),
    ("sort -oFILE f", "mutating"),
    ("sort -uo F f", "mutating"),
    ("tree -o F", "mutating"),
    ("uniq IN OUT", "mutating"),
    ("rg --pre CMD foo", "unknown"),
    ("git grep -Ocat foo", "unknown"),
    ("sed '$e cmd' f", "unknown"),
    ("date -s 2020-01-01", "mutating"),
    ("date 01010000", "mutating"),
]


@pytest.mark.parametrize("command, expected", REGRESSIONS)
def test_writing_commands_are_not_read_only(command, expected):
    assert verdict(command) == expected


@pytest.mark.parametrize(
    "command, expected",
    [
        # read-only: allow-listed programs with allow-listed flags and shapes
        ("git status 2>&1", "read-only"),
        ("git -C sub --no-pager log --oneline -5 -- a.py", "read-only"),
        ("git diff --stat && echo --- && git log --oneline -5", "read-only"),
        ("git status -uno", "read-only"),
        ("git branch -a", "read-only"),
        ("git tag -l 'v*'", "read-only"),
        ("wc -l lib/**/*.ex 2>/dev/null | tail -1", "read-only"),
        ("grep -rn 'x' deps/o*/src/ 2>/dev/null | head -10", "read-only"),
        ("find . -type f -name '*.ex' -newer a -print0 | xargs -0 grep -l foo", "read-only"),
        ("cd src && ls -la", "read-only"),
        ("(cd src; ls) || echo 'no such dir'", "read-only"),
        ("sed -n '1,40p' a.py", "read-only"),
        ("sed -e 's/a/b/g' -e '/x/d' f", "read-only"),
        ("sed -E 's|a|b|2;$!N;P;D' f", "read-only"),
        ("awk -F: '{print $1, NR}' f", "read-only"),
        ("sort -k2,2 -n -t, f | uniq -c", "read-only"),
        ("LC_ALL=C sort -u f", "read-only"),
        ("date +%Y%m%d%H%M%S", "read-only"),
        ("cat <<'EOF'\n$(rm -rf x)\nEOF", "read-only"),  # a quoted here-document is plain text
        ("for f in *.py; do wc -l \"$f\"; done", "read-only"),
        ("timeout 5 nice -n 5 env LANG=C cat f", "read-only"),
        ("ls | tee /dev/null", "read-only"),
        ("printf '%s\\n' a b", "read-only"),
        ("tree -L 3 src", "read-only"),
        ("echo hi >&2", "read-only"),
        ("command -v git", "read-only"),
        ("ls $(git rev-parse --show-toplevel)", "read-only"),
        # mutating: a known mutator, a writing flag, a write redirection, a positional output
        ("ls && rm x", "mutating"),
        ("echo hi > out.txt", "mutating"),
        ("cat a >> b", "mutating"),
        ("ls &> log", "mutating"),
        ("ls >| log", "mutating"),
        ("cat a 3<> f", "mutating"),
        ("cat <<EOF > f\nhi\nEOF", "mutating"),
        ("sed -i.bak 's/a/b/' f", "mutating"),
        ("sed --in-place=.bak 's/a/b/' f", "mutating"),
        ("find . -name '*.pyc' -delete", "mutating"),
        ("sort --output=x f", "mutating"),
        ("git diff --output=patch", "mutating"),
        ("git branch feature", "mutating"),
        ("git tag -d v1", "mutating"),
        ("ls | tee out", "mutating"),
        ("find . | xargs rm", "mutating"),
        ("ls $(rm x)", "mutating"),
        ("file -C -m magic", "mutating"),
        ("sudo cat /etc/shadow", "mutating"),
        # unknown: off the grammar, runs other programs, or not followable
        ("find . -name a -exec rm {} \\;", "unknown"),
        ("find * -name x", "unknown"),  # a file named -delete would be an action
        ("sort *", "unknown"),  # a file named -ofoo would be an output
        ("uniq $files", "unknown"),  # may become two operands
        ("tree -Lo 3 d", "unknown"),  # tree gives -o the next word, not the rest of the cluster
        ("sed 's/a/b/w out' f", "unknown"),
        ("sed 's/x/date/e' f", "unknown"),
        ("sed -f script.sed f", "unknown"),
        ("awk '{print > \"x\"}' f", "unknown"),
        ("awk 'BEGIN{system(\"rm x\")}'", "unknown"),
        ("awk '{print | \"sh\"}' f", "unknown"),
        ("rg -z foo", "unknown"),
        ("git -c core.pager=sh log", "unknown"),
        ("git --exec-path=/tmp status", "unknown"),
        ("git log --ext-diff", "unknown"),
        ("git commit -m x", "unknown"),
        ("git stash", "unknown"),
        ("printf -v x hi", "unknown"),
        ("python -c 'print(1)'", "unknown"),
        ("node -e 'x'", "unknown"),
        ("./ls", "unknown"),  # not the system ls
        ("PATH=. ls", "unknown"),
        ("GIT_EXTERNAL_DIFF=x git diff", "unknown"),
        ("ls `pwd`", "unknown"),
        ("echo $((1 + 2))", "unknown"),
        ("f() { rm x; }; f", "unknown"),
        ("case x in a) ls;; esac", "unknown"),
        ("cat <<EOF\n$(touch x)\nEOF", "unknown"),
        ("cat 'unterminated", "unknown"),
        ("sort --out=x f", "unknown"),  # abbreviations of long options are refused
        ("less +!rm f", "unknown"),
        ("cat < /dev/tcp/example.com/80", "unknown"),  # bash opens a connection
        ("cat < \"$F\"", "unknown"),
        ("uniq \"$@\"", "unknown"),  # several words
        ("echo ${x:-'}'; rm y'}", "unknown"),
        ("awk '{ getline l < \"/inet/tcp/0/example.com/80\" }'", "unknown"),
        ("[REDACTED_CMD len=12 sha=abcd1234]", "unknown"),
        ("", "unknown"),
    ],
)
def test_verdicts(command, expected):
    assert verdict(command) == expected


def test_codex_argv(tmp_path):
    shell = lambda argv: T.classify("shell", orjson.dumps({"command": argv}).decode()).safety  # noqa: E731
    assert shell(["bash", "-lc", "sed -Ei 's/a/b/' f"]) == "mutating"
    assert shell(["sort", "-uo", "F", "f"]) == "mutating"
    assert shell(["git", "status"]) == "read-only"


def test_user_rules(tmp_path):
    f = tmp_path / "safety.toml"
    f.write_text('[shell]\nread_only = ["cat", "pytest"]\n[shell.forbidden_flags]\ncat = ["-v"]\n')
    t = load_safety(f)
    assert t.shell_safety("pytest -q tests") == "read-only"  # a program without a grammar: trusted as listed
    assert t.shell_safety("cat -n a") == "read-only"
    assert t.shell_safety("cat -v a") == "unknown"  # refused by the user's own rule
    assert t.shell_safety("sed -n p a") == "unknown"  # no longer enabled
    assert t.shell_safety("rm a") == "mutating"  # the mutator list is untouched


# ---------------------------------------------------------------------------------------------- properties

FILES = {"a.txt": "alpha\nbeta\nalpha\n", "b.txt": "b 2\na 1\n", "sub/c.txt": "gamma\n", "sub/deep/d.py": "x=1\n",
         "-x.txt": "dash\n"}
OPERANDS = ["a.txt", "b.txt", "sub", "sub/c.txt", "new1", "new2", "*.txt", "*", "'$HOME'/x", "\"$HOME\"", "--",
            "-", "./-x.txt", "$X", "sub/*"]
DANGER = {
    "sed": ["-i", "-Ei", "-ni", "-i.bak", "--in-place", "-e 'w new1'", "'1e touch new1'", "'s/a/b/w new1'",
            "'s/a/touch new1/e'", "'$e touch new2'", "-n 'W new1'", "-e p", "'s/a/b/g'", "-n '1,2p'", "'1d;$!N'",
            "-E 's/(a)/\\1/'", "-s", "-z", "'y/ab/ba/'", "'a hi'", "'r b.txt'"],
    "awk": ["'{print $1}'", "'{print > \"new1\"}'", "'BEGIN{system(\"touch new1\")}'", "'{print | \"cat > new1\"}'",
            "-F:", "-v n=1", "'NR==1'", "'{ \"touch new2\" | getline }'", "-f a.txt"],
    "sort": ["-o", "-onew1", "-uo new1", "--output=new1", "-u", "-n", "-r", "-k2", "-t ' '", "-c", "-m"],
    "uniq": ["-c", "-d", "-u", "-i", "-f 1", "new1", "a.txt new2"],
    "tree": ["-o new1", "-L 2", "-a", "-Lo 2 new1", "-R", "-H x"],
    "find": ["-delete", "-fprint new1", "-fprint0 new1", "-fls new1", "-fprintf new1 %p", "-exec touch new1 \\;",
             "-execdir touch new1 \\;", "-ok touch new1 \\;", "-name '*.txt'", "-type f", "-print0", "-maxdepth 1",
             "-newer a.txt", "-printf '%p\\n'", "-ls", "!", "-o", "-prune", "-size +0"],
    "git": ["status", "log --oneline", "diff --stat", "show --stat", "branch", "branch new1", "tag", "tag v9",
            "grep -n alpha", "grep -Otouch alpha", "diff --output=new1", "log --output=new1", "ls-files",
            "rev-parse HEAD", "-c core.pager=touch log", "commit -am x", "stash", "status -uno", "blame a.txt",
            "cat-file -p HEAD", "ls-tree HEAD", "describe --always", "-C sub status", "branch -d x", "reset --hard"],
    "date": ["+%s", "-u", "-d @0"],
    "tee": ["new1", "-a a.txt", "/dev/null", "-a"],
    "xargs": ["rm", "touch", "cat", "grep a", "-0 cat", "-I{} cp {} new1", "echo"],
    "printf": ["-v x hi", "'%s\\n'", "hi"],
    "rg": ["--pre touch", "-n", "-z", "--files", "-l", "-g '*.txt'", "--hostname-bin touch"],
    "env": ["-i", "X=1", "LC_ALL=C", "-u X", "touch new1", "cat"],
    "timeout": ["5 cat", "5 touch new1", "-s KILL 5 ls", "5"],
    "nice": ["-n 5 cat", "touch new1", "-5 ls"],
}
RANDOM_FLAG = st.builds(lambda dash, letters: dash + letters, st.sampled_from(["-", "--"]),
                        st.text("abcdefghijklmnopqrstuvwxyzABCEFILOSU0123456789=", min_size=1, max_size=4))
REDIRECTIONS = ["", "", "", "", "", " 2>/dev/null", " > new1", " >> a.txt", " 2>/dev/null", " 2>&1", " < a.txt",
                " >/dev/null",
                " &> new2", " >| new1", " 1<> new2", " | tee new2", " | head -1", " | touch new2"]
SEPARATORS = [" ; ", " && ", " || ", " | ", "\n"]
EXECUTABLE = [p for p in T.shell["read_only"] if p not in ("date", "hostname")]  # system clock and name: table only


SCRIPTS = {"sed": ["'s/a/b/g'", "-n '1,2p'", "'1d'", "'s/a/b/w new1'", "'1e touch new1'"],
           "awk": ["'{print $1}'", "'NR==1'", "'{print > \"new1\"}'"]}


def _program_words(program: str) -> st.SearchStrategy[str]:
    """program [flags, operands, random flags] [its script] [files]."""
    known = st.sampled_from(DANGER.get(program, ["-a", "-l", "-n", "-v"]))
    pieces = st.lists(st.one_of(known, known, known, st.sampled_from(OPERANDS), RANDOM_FLAG), max_size=3)
    script = st.sampled_from(SCRIPTS[program]) if program in SCRIPTS else st.just("")
    files = st.lists(st.sampled_from(["a.txt", "b.txt", "sub/c.txt", "*.txt", "new1"]), max_size=2)
    return st.builds(lambda ws, sc, fs: " ".join(w for w in [program, *ws, sc, *fs] if w), pieces, script, files)


def commands(program: str) -> st.SearchStrategy[str]:
    """One or two simple commands around `program`, with redirections and separators."""
    other = st.sampled_from(EXECUTABLE).flatmap(_program_words)
    simple = st.builds(lambda c, r: c + r, _program_words(program), st.sampled_from(REDIRECTIONS))
    tail = st.one_of(st.just(""), st.just(""), st.builds(lambda s, o, r: s + o + r, st.sampled_from(SEPARATORS), other,
                                            st.sampled_from(REDIRECTIONS)))
    return st.builds(lambda a, b: a + b, simple, tail)


def _snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(root.rglob("*")):
        st_ = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else ""
        out[str(p.relative_to(root))] = (p.is_dir(), st_.st_size if not p.is_dir() else 0, st_.st_mtime_ns, digest)
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A small project with a git repository, HOME and TMPDIR inside it."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    root = tmp_path_factory.mktemp("tree")
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "home").mkdir()
    (root / "tmp").mkdir()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(root / "home"), "TMPDIR": str(root / "tmp"),
           "LC_ALL": "C", "X": "a.txt new2", "GIT_OPTIONAL_LOCKS": "0", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    if shutil.which("git"):
        for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "init"]):
            subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)
    isolate = ["unshare", "-n"] if shutil.which("unshare") and subprocess.run(
        ["unshare", "-n", "true"], capture_output=True).returncode == 0 else []
    return root, env, isolate


def _run_read_only(tree, command: str) -> None:
    root, env, isolate = tree
    if verdict(command) != "read-only":
        return
    before = _snapshot(root)
    try:
        subprocess.run([*isolate, "bash", "-c", command], cwd=root, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=5)
    except subprocess.TimeoutExpired:
        pass  # a read-only command may block (e.g. on a pipe); what matters is what it changed
    after = _snapshot(root)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"{command!r} was classed read-only but changed {changed}"


@pytest.mark.parametrize("program", EXECUTABLE)
def test_read_only_changes_nothing_when_run(tree, program):
    if program not in ("[", "test", "true", "false", "cd", "command", "type") and shutil.which(program) is None:
        pytest.skip(f"{program} is not installed on this machine")

    slow = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]

    @settings(max_examples=EXAMPLES if program in DANGER else max(5, EXAMPLES // 4), deadline=None,
              suppress_health_check=slow)
    @given(commands(program))
    def run(command):
        _run_read_only(tree, command)

    run()


WRITES = [" > out", " >> a.txt", " &> out", "\nrm -f out", " ; touch out", " && mv a b", " | tee out",
          " | xargs rm", "\nsed -i s/a/b/ f", "\nsort -o out f", "\nfind . -delete"]


@settings(max_examples=EXAMPLES * 3, deadline=None)
@given(st.one_of(st.sampled_from(EXECUTABLE).flatmap(commands), st.text(max_size=40).filter(lambda s: "#" not in s)),
       st.sampled_from(WRITES))
def test_appending_a_write_is_never_read_only(command, write):
    assert verdict(command + write) != "read-only"
    assert verdict(write.lstrip(" ;&|\n") + "\n" + command) != "read-only"


def test_replay_never_speculates_a_writing_shell_command():
    """End to end: a perfect predictor (oracle) may launch `git status` but never `sed -Ei ...`."""
    import pyarrow as pa
    import polars as pl

    from bpaste_cli.device import load_device
    from bpaste_cli.replay import LatencyStats, ReplayConfig, prepare, run_session
    from bpaste_cli.trace.builder import SessionBuilder
    from bpaste_cli.trace.schema import EVENTS_SCHEMA, SESSIONS_SCHEMA

    b = SessionBuilder("s", "native", "mem")
    b.user(0.0, "hi")
    t = 0.0
    for command in ["git status", "sed -Ei 's/a/b/' f"] * 3:
        b.llm(t + 2.0)
        cid = b.tool_call(None, "Bash", {"command": command}, t + 2.0)
        b.tool_result(cid, t + 3.0, "ok")
        t += 3.0
    b.llm(t + 2.0)
    session, events = b.finish()
    ev = pl.from_arrow(pa.Table.from_pylist(events, schema=EVENTS_SCHEMA))
    ss = pl.from_arrow(pa.Table.from_pylist([session], schema=SESSIONS_SCHEMA))
    (trace,), _ = prepare(ev, ss, T, frozenset({"read-only"}))
    stats = LatencyStats(think_s=2.0, tool_s={"Bash": 1.0}, default_tool_s=1.0)
    result = run_session(trace, "oracle", load_device("server").without_interference(), ReplayConfig(), stats, T, None,
                         keep_jobs=True)
    command_of = {n.key: orjson.loads(n.event.args_json)["command"] for n in trace.nodes if n.key}
    launched = [command_of.get(j.key) for j in result.jobs]
    assert launched and set(launched) == {"git status"}
    assert {n.safety for n in trace.nodes if n.key and "sed" in command_of[n.key]} == {"mutating"}


SHELLISH = st.lists(st.sampled_from(["ls", "sed", "-i", "sort", "-o", "x", "'", '"', "\\", "$", "$(", "(", ")", "`",
                                     "{", "}", "<<", "EOF", "\n", ">", "<", "&", "|", ";", "#", "*", "=", "${", " "]),
                    max_size=20)


@settings(max_examples=EXAMPLES * 5, deadline=None)
@given(SHELLISH)
def test_any_text_gets_a_verdict(parts):
    assert verdict("".join(parts)) in ("read-only", "mutating", "unknown")  # never raises
