from django.urls import path

from server.care import views

app_name = "care"

# Pages of this app in the staff console (templates extend "console/base.html").
urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("callbacks/<int:task_id>/done/", views.callback_complete, name="callback_complete"),
    path("customers/<int:customer_id>/complaint/", views.complaint_set, name="complaint_set"),
    path("customers/<int:customer_id>/complaint/clear/", views.complaint_clear, name="complaint_clear"),
    path("customers/<int:customer_id>/notes/", views.note_add, name="note_add"),
]
