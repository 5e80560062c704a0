from django.urls import path

from notifications import views

app_name = "notifications"

# The SMS providers' webhooks (replies, delivery reports), under /webhooks/.
urlpatterns = [
    path("twilio/sms", views.twilio_sms, name="twilio_sms"),
    path("twilio/sms-status", views.twilio_sms_status, name="twilio_sms_status"),
    path("aliyun/sms-up", views.aliyun_sms_up, name="aliyun_sms_up"),
    path("aliyun/sms-report", views.aliyun_sms_report, name="aliyun_sms_report"),
]
