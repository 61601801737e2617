from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import Capability
from accounts.views import member_page


@member_page(Capability.VIEW_CONVERSATIONS, nav="conversations")
def inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "conversations/inbox.html")
