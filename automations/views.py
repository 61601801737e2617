from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import Capability
from accounts.views import member_page


@member_page(Capability.AUTOMATE, nav="automations")
def automation_list(request: HttpRequest) -> HttpResponse:
    return render(request, "automations/list.html")
