"""`deeprag ui`: serve the Streamlit app (app/ui/main.py) on this machine.

The app reads its configuration the usual way (file → environment → flags): this command passes its
--config and --index to the app as DEEPRAG_CONFIG and DEEPRAG_INDEX_DIR, since Streamlit runs the script
in a fresh interpreter of its own.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path

from ground.config import Config

APP = Path(__file__).resolve().parent / "ui" / "main.py"


def register(sub: "argparse._SubParsersAction") -> None:
    """Add `deeprag ui`."""
    ui = sub.add_parser("ui", help="open the chat UI in a browser (Streamlit)")
    ui.add_argument("--host", dest="ui_host", help="address to listen on (default: ui.host, 127.0.0.1)")
    ui.add_argument("--port", dest="ui_port", type=int, help="port (default: ui.port, 8501)")
    ui.add_argument("--headless", action="store_true", help="do not open a browser window")
    ui.add_argument("--insecure", action="store_true",
                    help="allow a non-loopback --host without ui.access_token: anyone who reaches the port may read, "
                         "upload and delete documents")
    ui.set_defaults(handler=cmd_ui)


def streamlit_command(args: argparse.Namespace, config: Config) -> list[str]:
    """The `streamlit run` command line for these settings."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", config.ui.host,
        "--server.port", str(config.ui.port),
        "--server.headless", "true" if args.headless else "false",
        # Uploads larger than ingestion accepts are refused by the browser already (Streamlit counts whole MB).
        "--server.maxUploadSize", str(max(1, math.ceil(config.ingest.max_file_mb))),
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button: this app runs locally
        "--server.fileWatcherType", "none",
        # Streamlit runs a full gc.collect() after every script run, fragments included; with torch and the
        # models in memory each takes ~0.5 s holding the GIL, so the streaming answer's redraws (a fragment,
        # several a second) would starve the thread writing the answer. Python's generational collection
        # still runs as usual.
        "--runner.postScriptGC", "false",
    ]


def launch(args: argparse.Namespace, config: Config) -> subprocess.Popen:
    """Start the Streamlit server for ``args`` (parsed by this module's parser) and return the process."""
    env = dict(os.environ)
    if args.config:
        env["DEEPRAG_CONFIG"] = str(Path(args.config).resolve())
    if args.index_dir:
        env["DEEPRAG_INDEX_DIR"] = str(Path(args.index_dir).resolve())
    return subprocess.Popen(streamlit_command(args, config), env=env)


def check_access(args: argparse.Namespace, config: Config) -> None:
    """Refuse (UnprotectedBind, exit 2, nothing started) a non-loopback ui.host without ui.access_token unless
    --insecure; say once who can get in otherwise."""
    from app.exposure import is_loopback, require_protection

    has_token = bool(config.ui.access_token.get_secret_value())
    open_to_all = require_protection(
        "the app would read, upload and delete documents", "ui.host", config.ui.host, protected=has_token,
        insecure=getattr(args, "insecure", False),
        fix="set an access token (ui.access_token in the config file, or DEEPRAG_UI__ACCESS_TOKEN)",
    )
    if open_to_all:
        print(f"deeprag: warning: the UI on {config.ui.host} is open to anyone who reaches port {config.ui.port} "
              "(--insecure, no access token)", file=sys.stderr)
    elif has_token and not is_loopback(config.ui.host):
        print("deeprag: the UI asks each browser session for ui.access_token; give it only to people who may read "
              "and change the documents", file=sys.stderr)


def cmd_ui(args: argparse.Namespace, config: Config) -> int:
    check_access(args, config)
    process = launch(args, config)
    try:
        return process.wait()
    except KeyboardInterrupt:  # Streamlit got the same Ctrl-C and shuts down on its own
        return process.wait()
