"""``tci notify send``: queue the immediate alert messages and send every message that is
due, once, then exit: for a deployment that runs the scheduler without ``tci serve`` (whose
processes otherwise do this every ``[notify] interval_seconds``), from cron or a timer."""

from __future__ import annotations

import socket

import typer

from tci_gateway.cli.state import state_of as _state

notify_app = typer.Typer(help="Alert messages to people (e-mail, chat).", no_args_is_help=True)


@notify_app.command("send")
def notify_send_command(ctx: typer.Context) -> None:
    """Queue immediate alert messages and send what is due (e-mail, chat), then exit."""
    from tci_gateway.services import notify, notify_send
    from tci_gateway.wiring import notify_compose_options, notify_relay_options, smtp_options

    state = _state(ctx)
    wiring = state.wiring()
    settings = wiring.settings
    conf = settings.notify
    ledger = wiring.ledger()
    options = notify_relay_options(conf, f"cli:{socket.gethostname()}")
    try:
        queued = notify.enqueue_immediate(ledger, notify_compose_options(settings), now=state.now())
        with notify_send.make_client(conf.timeout_seconds) as client:
            senders = notify_send.Senders(smtp=smtp_options(conf), chat=client)
            total = notify_send.RelayReport()
            while True:  # a pass sends at most options.batch; go on until nothing is due
                report = notify_send.relay(ledger, senders, options, now=state.now)
                total.sent += report.sent
                total.retried += report.retried
                total.failed += report.failed
                if report.handled < options.batch:
                    break
    finally:
        ledger.dispose()
    figures = {
        "queued": queued.total,
        "sent": total.sent,
        "retried": total.retried,
        "failed": total.failed,
    }
    if state.json:
        state.output.emit_json(figures)
        return
    state.output.out.print(
        f"{queued.total} message(s) queued; {total.sent} sent, {total.retried} to retry, "
        f"{total.failed} failed",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(notify_app, name="notify")
