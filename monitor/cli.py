"""The ``calmwatch`` command. Each subcommand is a small ``_cmd_*`` function that calls into its module;
the parsers are built in ``_build_parser`` so ``calmwatch --help`` lists everything in one place."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from monitor.schemas import TurnScores

Handler = Callable[[argparse.Namespace], int]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calmwatch", description="Real-time monitor of customer emotion in chat.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


Subparsers = argparse._SubParsersAction  # type: ignore[type-arg]


def _add_serve(sub: Subparsers) -> None:
    p = sub.add_parser("serve", help="run the service (REST, websockets, console)")
    p.add_argument("--host", help="interface to bind (default CALMWATCH_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default CALMWATCH_PORT or 8000)")
    p.add_argument("--redis-url", help="use this Redis instead of the embedded server (CALMWATCH_REDIS_URL)")
    p.add_argument("--scorer", choices=["model", "vader"], help="scorer (default: the trained model)")
    p.add_argument(
        "--workers", type=int,
        help="service processes sharing the port (default CALMWATCH_WORKERS or 1); the embedded Redis is started "
        "once, here, for all of them",
    )  # fmt: skip
    p.set_defaults(handler=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    from monitor.errors import CalmwatchError
    from monitor.observability import configure_logging
    from monitor.settings import Settings

    given = {"host": args.host, "port": args.port, "redis_url": args.redis_url, "scorer": args.scorer,
             "workers": args.workers}  # fmt: skip
    overrides = {k: v for k, v in given.items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValueError as exc:  # pydantic's ValidationError: e.g. --workers 0
        print(f"calmwatch serve: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        import asyncio

        from monitor.auth import preflight

        asyncio.run(preflight(settings))  # no keys on a public interface: refuse before binding anything
        print(f"Calmwatch on http://{settings.host}:{settings.port}/  (API docs at /docs)", file=sys.stderr, flush=True)
        if settings.workers == 1:
            _serve_one(settings)
        else:
            _serve_workers(settings, overrides)
    except CalmwatchError as exc:
        print(f"calmwatch: {exc}", file=sys.stderr)
        return 1
    return 0


def _uvicorn_options(settings: Any) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "ws_max_size": settings.max_frame_bytes,
        "log_config": None,
        "timeout_graceful_shutdown": 10,
    }


def _serve_one(settings: Any) -> None:
    import uvicorn

    from monitor.app import create_app

    uvicorn.run(create_app(settings), **_uvicorn_options(settings))


def _serve_workers(settings: Any, overrides: dict[str, Any]) -> None:
    """Several service processes on one port (uvicorn's worker manager): each builds its app from the
    environment, so the command line's overrides are passed down as ``CALMWATCH_*`` variables. With no Redis URL
    the embedded server is started here, once, and every worker is pointed at its socket; it is watched and
    restarted on the same data if it dies, as one process's lifespan would."""
    import uvicorn

    from monitor.redis_server import EmbeddedRedis, supervised

    for name, value in overrides.items():
        os.environ[f"CALMWATCH_{name.upper()}"] = str(value)
    embedded = None
    if settings.redis_url is None:
        embedded = EmbeddedRedis(settings.state_dir / "redis", appendonly=True)
        embedded.start()
        os.environ["CALMWATCH_REDIS_URL"] = embedded.url
    try:
        with supervised(embedded):
            app = "monitor.app:create_worker_app"
            uvicorn.run(app, factory=True, workers=settings.workers, **_uvicorn_options(settings))
    finally:
        if embedded is not None:
            embedded.stop()
            os.environ.pop("CALMWATCH_REDIS_URL", None)


# Each entry adds one subparser and sets ``handler`` on it with ``set_defaults(handler=...)``.
_SUBCOMMANDS: list[Callable[[Subparsers], None]] = [_add_serve]


def _add_train(sub: Subparsers) -> None:
    from pathlib import Path

    p = sub.add_parser(
        "train",
        help="fine-tune the emotion model on the five corpora (needs the train extra; see models/README.md)",
        description="Train on GoEmotions, complaints-xci, xed, convabuse and banking77 under --data and write an "
        "artifact (weights, calmwatch.json, tokenizer, model.onnx) to --out. The service loads the artifact shipped "
        "in the package (in a checkout: models/artifact, the default --out); point CALMWATCH_MODEL_PATH at another "
        "--out to serve it.",
    )
    p.add_argument("--data", type=Path, required=True, help="folder holding goemotions/, complaints-xci/, xed/, ...")
    p.add_argument(
        "--out", type=Path, default=Path("models/artifact"),
        help="artifact directory to write (default models/artifact, what the package ships and serving loads)",
    )  # fmt: skip
    p.add_argument("--checkpoints", type=Path, default=Path("models/checkpoints"), help="resumable checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint of the same recipe")
    p.add_argument("--epochs", type=int, default=2, help="epochs (each draws a fixed sample from every corpus)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--limit", type=int, default=None, help="use only the first N rows of each corpus split (smoke)")
    p.add_argument("--no-emphasis", action="store_true", help="leave the emphasis features out (the ablation)")
    p.add_argument(
        "--no-augment", action="store_true",
        help="no word-swap copies of the training texts (the ablation; monitor/training/augment.py)",
    )  # fmt: skip
    p.add_argument(
        "--strip-handles", action="store_true",
        help="drop @handles and links from every text, in training and serving (ablation; scoring/normalize.py)",
    )  # fmt: skip
    p.add_argument("--no-export", action="store_true", help="skip model.onnx (write it later with calmwatch export)")
    p.set_defaults(handler=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from monitor.observability import configure_logging
    from monitor.training.recipe import TrainConfig, train

    configure_logging("WARNING", "console")  # progress goes to stderr through tqdm; keep stdout clean

    config = TrainConfig(
        data_dir=args.data, out_dir=args.out, checkpoint_dir=args.checkpoints, epochs=args.epochs,
        seed=args.seed, threads=args.threads, limit=args.limit, resume=args.resume,
        emphasis=not args.no_emphasis, export=not args.no_export,
    )  # fmt: skip
    if args.strip_handles:
        from monitor.scoring.normalize import HANDLES_AND_LINKS

        config.normalization = HANDLES_AND_LINKS
    if args.no_augment:
        config.augment_copies = 0
    if args.limit is not None:
        config.epoch_samples = {name: min(n, 4 * args.limit) for name, n in config.epoch_samples.items()}
    train(config)
    return 0


def _add_score(sub: Subparsers) -> None:
    from pathlib import Path

    p = sub.add_parser("score", help="score text lines (stdin or --input) to JSONL on stdout")
    p.add_argument("--input", type=Path, default=None, help="JSONL with a 'text' field, or plain lines")
    p.add_argument(
        "--model", type=Path, default=None,
        help="artifact or HF directory (default: CALMWATCH_MODEL_PATH, else the artifact shipped in the package)",
    )  # fmt: skip
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(handler=_cmd_score)


def _cmd_score(args: argparse.Namespace) -> int:
    from monitor.errors import ModelArtifactError
    from monitor.observability import configure_logging

    configure_logging("WARNING", "console")  # stdout carries the JSONL; logs, if any, go to stderr

    try:
        return score_command(args.input, model_path=args.model, batch_size=args.batch_size)
    except ModelArtifactError as exc:
        print(f"calmwatch score: {exc}", file=sys.stderr)
        return 2


def _input_text(line: str) -> str | None:
    """A JSONL line with a ``text`` field gives that field; any other non-blank line is the text itself."""
    stripped = line.strip()
    if not stripped:
        return None
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            return stripped
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            return str(data["text"])
    return stripped


def _text_chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        text = _input_text(line)
        if text is None:
            continue
        chunk.append(text)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def score_record(text: str, scores: TurnScores) -> dict[str, Any]:
    """The JSONL object ``calmwatch score`` prints for one turn."""
    return {
        "text": text,
        "anger": round(scores.anger, 4),
        "frustration": round(scores.frustration, 4),
        "sentiment": round(scores.sentiment, 4),
        "emotions": {k: round(v, 4) for k, v in scores.emotions.items()},
    }


def score_command(
    input_path: Path | None, *, model_path: Path | None = None, batch_size: int = 32, out: TextIO | None = None
) -> int:
    """``calmwatch score``: lines from ``input_path`` (or stdin) to JSONL on ``out``, in batches.

    The model is ``model_path``, else ``CALMWATCH_MODEL_PATH``, else the packaged artifact. A file gets a
    progress bar on stderr (stdin has no known length, so it gets none).
    """
    from tqdm import tqdm

    from monitor.scoring import load_scorer

    out = out if out is not None else sys.stdout
    if model_path is None and os.environ.get("CALMWATCH_MODEL_PATH"):
        model_path = Path(os.environ["CALMWATCH_MODEL_PATH"])
    scorer = load_scorer("model", model_path)
    if input_path is not None and not input_path.is_file():
        print(f"calmwatch score: {input_path}: no such file", file=sys.stderr)
        return 2
    if input_path is None:
        for chunk in _text_chunks(sys.stdin, batch_size):
            for text, scores in zip(chunk, scorer.score(chunk), strict=True):
                out.write(json.dumps(score_record(text, scores), ensure_ascii=False) + "\n")
            out.flush()
        return 0
    with input_path.open(encoding="utf-8") as handle:
        total = sum(1 for line in handle if line.strip())
    with input_path.open(encoding="utf-8") as handle, tqdm(total=total, unit="turn", file=sys.stderr) as bar:
        for chunk in _text_chunks(handle, batch_size):
            for text, scores in zip(chunk, scorer.score(chunk), strict=True):
                out.write(json.dumps(score_record(text, scores), ensure_ascii=False) + "\n")
            bar.update(len(chunk))
    out.flush()
    return 0


def _add_export(sub: Subparsers) -> None:
    from pathlib import Path

    p = sub.add_parser(
        "export",
        help="re-create an artifact's model.onnx from its weights (needs the train extra)",
        description="Export the artifact's weights.safetensors to ONNX, quantise to int8 and keep int8 only if it "
        "scores like fp32 on the check set (see models/README.md).",
    )
    p.add_argument("--artifact", type=Path, default=Path("models/artifact"), help="artifact directory (rewritten)")
    p.add_argument(
        "--check", type=Path, default=Path("models/eval/customer_service.jsonl"),
        help="JSONL of {text, anger, frustration} the int8 graph is compared on (without --data)",
    )  # fmt: skip
    p.add_argument("--data", type=Path, default=None, help="compare on the corpora's dev mix instead, as train does")
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from monitor.errors import ModelArtifactError
    from monitor.observability import configure_logging

    configure_logging("WARNING", "console")
    from monitor.training.export import export_command

    try:
        return export_command(args.artifact, args.check, args.data)
    except (ModelArtifactError, FileNotFoundError) as exc:
        print(f"calmwatch export: {exc}", file=sys.stderr)
        return 2


_SUBCOMMANDS += [_add_train, _add_score, _add_export]


def _add_replay(sub: Subparsers) -> None:
    from pathlib import Path

    p = sub.add_parser("replay", help="run recorded conversations through the pipeline offline; show scores and alerts")
    p.add_argument("files", type=Path, nargs="+", help="scenario YAML/JSON (or a directory), JSONL of messages, "
                   "or the support-conversations JSON")  # fmt: skip
    p.add_argument("--rules", type=Path, action="append", help="rule pack file or directory (repeatable)")
    p.add_argument("--scorer", choices=["model", "vader"], help="scorer (default: the trained model)")
    p.add_argument("--model", type=Path, default=None, help="model directory (default: CALMWATCH_MODEL_PATH)")
    p.add_argument("--json", action="store_true", help="one JSON document for machines")
    p.add_argument("--only-alerts", action="store_true", help="print only the turns that raised alerts")
    p.add_argument("--limit", type=int, default=None, help="replay only the first N conversations")
    p.add_argument("--concurrency", type=int, default=8, help="conversations in flight at once")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on long files")
    p.add_argument("--html", type=Path, default=None, metavar="FILE",
                   help="also write a page with per-conversation timelines and a per-rule summary")  # fmt: skip
    p.set_defaults(handler=_cmd_replay)


def _cmd_replay(args: argparse.Namespace) -> int:
    from monitor.replay import replay_command

    return replay_command(
        args.files, rules_paths=args.rules, scorer_name=args.scorer, model_path=args.model, as_json=args.json,
        only_alerts=args.only_alerts, limit=args.limit, concurrency=args.concurrency,
        progress=False if args.no_progress else None, html=args.html,
    )  # fmt: skip


_SUBCOMMANDS.append(_add_replay)


def _add_rules(sub: Subparsers) -> None:
    from pathlib import Path

    p = sub.add_parser("rules", help="rule packs: check one before a running service picks it up")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="validate rule packs and list their rules (exit 2 on the first error)")
    check.add_argument("paths", type=Path, nargs="*", metavar="PATH",
                       help="pack files or directories, later ones overriding earlier ones "
                            "(default: CALMWATCH_RULES_PATHS, else rules/)")  # fmt: skip
    p.set_defaults(handler=_cmd_rules)


def _cmd_rules(args: argparse.Namespace) -> int:
    from monitor.rules.check import check_command

    return check_command(args.paths)


_SUBCOMMANDS.append(_add_rules)


def _add_keys(sub: Subparsers) -> None:
    p = sub.add_parser("keys", help="API keys: create (shown once), list, revoke")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a key and print it (the only time it is shown)")
    create.add_argument("--role", required=True, choices=["ingest", "supervisor", "agent", "admin"])
    create.add_argument("--agent-id", help="for --role agent: the agent whose nudges the key may read")
    create.add_argument("--name", default="", help="a label for listings (e.g. the connector's name)")
    listing = actions.add_parser("list", help="list keys (ids, roles, names; never the keys)")
    revoke = actions.add_parser("revoke", help="revoke a key by id; its tokens stop working at once")
    revoke.add_argument("key_id")
    for action in (create, listing, revoke):
        action.add_argument("--redis-url", help="the service's Redis (default CALMWATCH_REDIS_URL, else embedded)")
    p.set_defaults(handler=_cmd_keys)


def _cmd_keys(args: argparse.Namespace) -> int:
    import asyncio

    from monitor.auth import KeyStore
    from monitor.errors import CalmwatchError
    from monitor.observability import configure_logging
    from monitor.redis_server import admin_redis
    from monitor.settings import Settings

    settings = Settings(**({"redis_url": args.redis_url} if args.redis_url else {}))
    configure_logging("WARNING", "console")  # stdout carries only the answer (a new key goes to $(...) as is)

    async def run() -> int:
        async with admin_redis(settings) as redis:
            store = KeyStore(redis)
            if args.action == "create":
                try:
                    key, record = await store.create(args.role, agent_id=args.agent_id, name=args.name)
                except ValueError as exc:
                    print(f"calmwatch keys: {exc}", file=sys.stderr)
                    return 2
                print(f"created {record.id} ({record.role}{', agent ' + record.agent_id if record.agent_id else ''})."
                      " Store the key now: it is not kept and will not be shown again.", file=sys.stderr)  # fmt: skip
                print(key)
            elif args.action == "list":
                for r in await store.records():
                    when = f"{r.created_at:%Y-%m-%d %H:%M}"
                    print(f"{r.id}\t{r.role}\t{r.agent_id or '-'}\t{r.prefix}...\t{when}\t{r.name}")
            elif not await store.revoke(args.key_id):
                print(f"calmwatch keys: no key {args.key_id!r}", file=sys.stderr)
                return 1
            return 0

    try:
        return asyncio.run(run())
    except CalmwatchError as exc:
        print(f"calmwatch keys: {exc}", file=sys.stderr)
        return 1


_SUBCOMMANDS.append(_add_keys)


def _add_erase(sub: Subparsers) -> None:
    p = sub.add_parser("erase", help="erase a customer's (or one conversation's) stored text, state and alert texts")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--customer", metavar="ID", help="every stored conversation of this customer id")
    target.add_argument("--conversation", metavar="ID", help="one conversation")
    p.add_argument("--by", help="who asks, for the audit stream (default: the operating-system user)")
    p.add_argument("--redis-url", help="the service's Redis (default CALMWATCH_REDIS_URL, else embedded)")
    p.set_defaults(handler=_cmd_erase)


def _cmd_erase(args: argparse.Namespace) -> int:
    import asyncio
    import getpass

    from monitor.errors import CalmwatchError
    from monitor.observability import configure_logging
    from monitor.privacy.erasure import Eraser, Erasure
    from monitor.redis_server import admin_redis
    from monitor.settings import Settings

    settings = Settings(**({"redis_url": args.redis_url} if args.redis_url else {}))
    configure_logging("WARNING", "console")
    by = args.by or f"cli:{getpass.getuser()}"

    async def run() -> list[Erasure]:
        async with admin_redis(settings) as redis:
            eraser = Eraser(redis)
            if args.customer is not None:
                return await eraser.erase_customer(args.customer, by=by)
            return [await eraser.erase_conversation(args.conversation, by=by)]

    try:
        erasures = [e for e in asyncio.run(run()) if e.found]
    except CalmwatchError as exc:
        print(f"calmwatch erase: {exc}", file=sys.stderr)
        return 1
    for e in erasures:
        print(f"{e.conversation_id}\t{e.turns} turns\t{e.alerts} alerts\t{e.webhook_deliveries} webhook deliveries")
    who = f"customer {args.customer!r}" if args.customer is not None else f"conversation {args.conversation!r}"
    print(f"erased {len(erasures)} conversation(s) of {who}; recorded in the audit stream as {by!r}", file=sys.stderr)
    return 0 if erasures or args.customer is not None else 1  # a customer with nothing stored is no error


_SUBCOMMANDS.append(_add_erase)


def _add_demo(sub: Subparsers) -> None:
    from pathlib import Path

    p = sub.add_parser("demo", help="play demo chats into the service at human speed so the console comes alive")
    p.add_argument("--url", help="a running service (default: the one on --port if it answers, else start one)")
    p.add_argument("--speed", type=float, default=1.0, help="typing speed; 2 = twice as fast as people type")
    p.add_argument("--loop", action="store_true", help="play round after round until Ctrl-C")
    p.add_argument("--from", dest="sources", type=Path, action="append", metavar="PATH",
                   help="also play chats from PATH: scenarios, JSONL or the support-conversations JSON "
                        "(default in a checkout: tests/scenarios and ../shared's support conversations)")  # fmt: skip
    p.add_argument("--count", type=int, default=3, help="how many conversations to take from each source")
    p.add_argument("--token", help="an ingest API key, when the service requires keys")
    p.add_argument("--open", action="store_true", help="open the console in a web browser")
    p.add_argument("--scorer", choices=["model", "vader"], help="scorer of a service the demo starts")
    p.add_argument("--host", help="interface of a service the demo starts (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port of a service the demo starts (default 8000)")
    p.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import DemoOptions, demo_command

    return demo_command(
        DemoOptions(url=args.url, speed=args.speed, loop=args.loop, token=args.token, sources=args.sources,
                    source_limit=args.count, open_browser=args.open, scorer=args.scorer, host=args.host,
                    port=args.port)
    )  # fmt: skip


_SUBCOMMANDS.append(_add_demo)


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
