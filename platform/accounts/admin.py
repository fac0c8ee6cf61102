from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import Institution, User


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "country"]
    search_fields = ["name", "code"]


@admin.register(User)
class PlatformUserAdmin(UserAdmin):
    list_display = ["username", "email", "institution", "is_staff", "is_active"]
    list_filter = ["institution", "is_staff", "is_active"]
    fieldsets = (*UserAdmin.fieldsets, ("Institution", {"fields": ["institution"]}))
    add_fieldsets = (*UserAdmin.add_fieldsets, ("Institution", {"fields": ["institution"]}))
