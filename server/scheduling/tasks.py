from celery import shared_task

from server.scheduling import services


@shared_task(name="server.scheduling.tasks.replan", acks_late=True)
def replan(*, token: str) -> dict | None:
    summary = services.replan_if_current(token=token)
    if summary is None:
        return None
    return {"assigned": summary.assigned, "orders": summary.orders, "moved": summary.moved}


@shared_task(name="server.scheduling.tasks.replan_today")
def replan_today() -> dict:
    summary = services.day_replan()
    return {"assigned": summary.assigned, "orders": summary.orders, "moved": summary.moved}
