"""The crm app's services, split by sub-domain (HackSoft "modules")."""
