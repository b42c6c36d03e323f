"""Commands that change what the daemon runs: avail, reread, add, remove, update, reload,
shutdown (supervisorctl 4.3's texts and exit statuses; docs/cli.md)."""
from __future__ import annotations

import xmlrpc.client

import click

from wrapctl.cli import format as fmt
from wrapctl.cli.format import Exit, Faults
from wrapctl.cli.session import ConnectionFailed, control_command, names_arg, no_args, print_json


@control_command("avail", short_help="All configured processes.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of config dicts.")
@click.argument("args", nargs=-1)
def avail(ctl, out, args, as_json):
    """List every configured process: in use or avail, auto or manual, priorities."""
    if not no_args(out, "avail", args):
        return
    try:
        infos = ctl.call("getAllConfigInfo")
    except xmlrpc.client.Fault as f:
        if f.faultCode != Faults.SHUTDOWN_STATE:
            raise
        out.fail(Exit.GENERIC, "ERROR: supervisor shutting down")
        return
    if as_json:
        print_json(fmt.avail_json(infos))
        return
    for ci in infos:
        out.out(fmt.avail_line(ci))


@control_command("reread", short_help="Reread the config; report changes, apply none.")
@click.argument("args", nargs=-1)
def reread(ctl, out, args):
    """Reload the daemon's configuration files without adding or removing anything."""
    if not no_args(out, "reread", args):
        return
    try:
        result = ctl.call("reloadConfig")
    except xmlrpc.client.Fault as f:
        if f.faultCode == Faults.SHUTDOWN_STATE:
            out.fail(Exit.GENERIC, "ERROR: supervisor shutting down")
        elif f.faultCode == Faults.CANT_REREAD:
            out.fail(Exit.GENERIC, f"ERROR: {f.faultString}")
        else:
            raise
        return
    for line in fmt.changes_lines(*result[0]):
        out.out(line)


@control_command("add", short_help="Activate groups added to the config.")
@names_arg()
def add(ctl, out, names):
    """Add the process groups NAMES (after reread)."""
    for name in names:
        try:
            ctl.call("addProcessGroup", name)
        except xmlrpc.client.Fault as f:
            if f.faultCode == Faults.SHUTDOWN_STATE:
                out.fail(Exit.GENERIC, "ERROR: shutting down")
            elif f.faultCode == Faults.ALREADY_ADDED:
                out.out("ERROR: process group already active")
            elif f.faultCode == Faults.BAD_NAME:
                out.fail(Exit.GENERIC, f"ERROR: no such process/group: {name}")
            else:
                raise
        else:
            out.out(f"{name}: added process group")


@control_command("remove", short_help="Remove stopped groups from the active config.")
@names_arg()
def remove(ctl, out, names):
    """Remove the process groups NAMES (they must be stopped)."""
    for name in names:
        try:
            ctl.call("removeProcessGroup", name)
        except xmlrpc.client.Fault as f:
            if f.faultCode == Faults.STILL_RUNNING:
                out.fail(Exit.GENERIC, f"ERROR: process/group still running: {name}")
            elif f.faultCode == Faults.BAD_NAME:
                out.fail(Exit.GENERIC, f"ERROR: no such process/group: {name}")
            else:
                raise
        else:
            out.out(f"{name}: removed process group")


@control_command("update", short_help="Reread the config and apply what changed.")
@names_arg()
def update(ctl, out, names):
    """Reread the config; stop and remove dropped groups, restart changed groups, add new
    ones. With group NAMES, only those; `all` is the same as none."""
    try:
        added, changed, removed = ctl.call("reloadConfig")[0]
    except xmlrpc.client.Fault as f:
        if f.faultCode != Faults.SHUTDOWN_STATE:
            raise
        out.fail(Exit.GENERIC, "ERROR: already shutting down")
        return
    wanted = set(names)
    if "all" in wanted:
        wanted = set()
    if wanted:
        known = {i["group"] for i in ctl.call("getAllProcessInfo")} | set(added)
        for g in sorted(wanted - known):
            out.fail(Exit.GENERIC, f"ERROR: no such group: {g}")

    def chosen(g):
        return not wanted or g in wanted

    # wrapctl's daemon updates process by process (an unchanged process in a changed group
    # keeps running); supervisord has no such call, so it gets supervisorctl's group logic.
    try:
        done = ctl.call("update", sorted(wanted), namespace="wrapctl")
    except xmlrpc.client.Fault as f:
        if f.faultCode != Faults.UNKNOWN_METHOD:
            raise
    else:
        added, changed, removed = done[0]
        for g in removed:
            out.out(f"{g}: stopped")
            out.out(f"{g}: removed process group")
        for g in changed:
            out.out(f"{g}: updated process group")
        for g in added:
            out.out(f"{g}: added process group")
        return

    for g in filter(chosen, removed):
        results = ctl.call("stopProcessGroup", g)
        out.out(f"{g}: stopped")
        if any(r["status"] == Faults.FAILED for r in results):
            out.fail(Exit.GENERIC, f"{g}: has problems; not removing")
            continue
        ctl.call("removeProcessGroup", g)
        out.out(f"{g}: removed process group")
    for g in filter(chosen, changed):
        ctl.call("stopProcessGroup", g)
        out.out(f"{g}: stopped")
        ctl.call("removeProcessGroup", g)
        ctl.call("addProcessGroup", g)
        out.out(f"{g}: updated process group")
    for g in filter(chosen, added):
        ctl.call("addProcessGroup", g)
        out.out(f"{g}: added process group")


# -- reload / shutdown ---------------------------------------------------------------------

@control_command("reload", short_help="Restart the daemon: re-read the config (wrapctl keeps unchanged programs).")
@click.argument("args", nargs=-1)
def reload(ctl, out, args):
    """Restart the remote daemon: it re-reads its config. supervisord restarts every
    process; wrapctl daemon keeps those whose configuration did not change."""
    if not no_args(out, "reload", args):
        return
    try:
        ctl.call("restart")
    except xmlrpc.client.Fault as f:
        if f.faultCode != Faults.SHUTDOWN_STATE:
            raise
        out.fail(Exit.GENERIC, "ERROR: already shutting down")
        return
    out.out("Restarted supervisord")


@control_command("shutdown", short_help="Stop every process and the daemon.")
@click.argument("args", nargs=-1)
def shutdown(ctl, out, args):
    """Shut the remote daemon down."""
    if not no_args(out, "shutdown", args):
        return
    try:
        ctl.call("shutdown")
    except xmlrpc.client.Fault as f:
        if f.faultCode != Faults.SHUTDOWN_STATE:
            raise
        out.out("ERROR: already shutting down")
        return
    except ConnectionFailed as c:
        if c.kind == "other":
            raise
        out.fail(Exit.GENERIC, f"ERROR: {c.text()} (already shut down?)")
        return
    out.out("Shut down")
