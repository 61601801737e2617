from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import Capability
from accounts.views import member_page

from .selectors import number_list


@member_page(Capability.VIEW_NUMBERS, nav="numbers")
def number_list_page(request: HttpRequest) -> HttpResponse:
    return render(request, "numbers/list.html", {"numbers": number_list(account=request.account)})
