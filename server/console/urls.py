from django.urls import path

from server.console import views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("calls/pop/", views.call_pop, name="call_pop"),
    path("customers/<int:customer_id>/", views.customer_detail, name="customer"),
    path("customers/<int:customer_id>/notes/", views.customer_note_add, name="customer_note_add"),
    path("repair/", views.repair, name="repair"),
    path("repair/search/", views.repair_search, name="repair_search"),
    path("repair/customer/<int:customer_id>/", views.repair_customer, name="repair_customer"),
    path("work-orders/", views.work_order_list, name="work_orders"),
    path("work-orders/<int:work_order_id>/", views.work_order_detail, name="work_order"),
    path(
        "work-orders/<int:work_order_id>/photos/<int:photo_id>/",
        views.work_order_photo,
        name="work_order_photo",
    ),
    path("work-orders/<int:work_order_id>/<slug:action>/", views.work_order_action, name="work_order_action"),
]
