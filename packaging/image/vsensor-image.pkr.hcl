# Packer template: an Ubuntu 24.04 LTS Azure image with vsensor-init baked in, for the
# scale set of packaging/azure/. See README.md beside this file.
#
#   packer init vsensor-image.pkr.hcl
#   packer build -var subscription_id=... -var resource_group=... \
#                -var deb=../../build/deb/vsensor-init_0.1.0_amd64.deb vsensor-image.pkr.hcl
#
# Every build makes a new image: the managed image's name ends with the build's UTC
# time, and a Compute Gallery version is that time too (gallery_name set: the image
# is published to the gallery, replicated to gallery_regions, for scale sets in
# several regions). build_resource_group builds in an existing resource group (where
# policy forbids Packer's temporary one) instead of a temporary one in location.
#
# The build VM is provisioned by cloud-init and waagent as usual; the recipe then hands
# provisioning of every VM made from the image to vsensor-init.

packer {
  required_version = ">= 1.9.0"
  required_plugins {
    azure = {
      source  = "github.com/hashicorp/azure"
      version = ">= 2.0.0"
    }
  }
}

variable "subscription_id" { type = string }
variable "resource_group" {
  type        = string
  description = "Resource group that receives the managed image, and holds the gallery."
}
variable "location" {
  type        = string
  default     = "westeurope"
  description = "Where the temporary build VM runs (ignored with build_resource_group) and the managed image is made."
}
variable "image_name" {
  type        = string
  default     = "vsensor-init-ubuntu-2404"
  description = "Managed image: the name's prefix, the build time follows. Gallery: the image definition, which must exist (README.md)."
}
variable "build_resource_group" {
  type        = string
  default     = ""
  description = "An existing resource group to build in; '' for a temporary one Packer creates and deletes in location."
}
variable "gallery_name" {
  type        = string
  default     = ""
  description = "Azure Compute Gallery to publish a version of image_name to; '' for a managed image only."
}
variable "gallery_regions" {
  type        = list(string)
  default     = []
  description = "Regions the gallery version is replicated to (the gallery's own region is always one)."
}
variable "image_version" {
  type        = string
  default     = ""
  description = "Gallery image version MAJOR.MINOR.PATCH; '' for the build time, YYYY.MMDD.hhmm."
}
variable "vm_size" {
  type    = string
  default = "Standard_D2s_v3"
}
variable "deb" {
  type        = string
  description = "Path of the vsensor-init .deb built by `make deb`."
}

locals {
  build_time = timestamp()
  # A fixed name would make the second build fail ("image already exists").
  managed_image_name = "${var.image_name}-${formatdate("YYYYMMDDhhmmss", local.build_time)}"
  image_version      = var.image_version != "" ? var.image_version : formatdate("YYYY.MMDD.hhmm", local.build_time)
  gallery            = var.gallery_name != ""
}

source "azure-arm" "ubuntu" {
  use_azure_cli_auth = true
  subscription_id    = var.subscription_id
  # Either a temporary resource group in location, or the existing one given.
  location                  = var.build_resource_group == "" ? var.location : null
  build_resource_group_name = var.build_resource_group == "" ? null : var.build_resource_group
  vm_size                   = var.vm_size
  os_type                   = "Linux"
  image_publisher           = "Canonical"
  image_offer               = "ubuntu-24_04-lts"
  image_sku                 = "server"
  # A managed image unless the image goes to a gallery (which needs none).
  managed_image_name                = local.gallery ? null : local.managed_image_name
  managed_image_resource_group_name = local.gallery ? null : var.resource_group

  dynamic "shared_image_gallery_destination" {
    for_each = local.gallery ? [1] : []
    content {
      subscription         = var.subscription_id
      resource_group       = var.resource_group
      gallery_name         = var.gallery_name
      image_name           = var.image_name
      image_version        = local.image_version
      replication_regions  = var.gallery_regions
      storage_account_type = "Standard_LRS"
    }
  }
}

build {
  sources = ["source.azure-arm.ubuntu"]

  provisioner "file" {
    source      = var.deb
    destination = "/tmp/vsensor-init.deb"
  }

  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; sudo sh -eux {{ .Path }}"
    inline = [
      # Wait for the build VM's own first boot to finish before touching apt.
      "cloud-init status --wait || true",
      "export DEBIAN_FRONTEND=noninteractive",
      "apt-get update",
      # apt resolves the package's Depends from the Ubuntu archive. Installing enables
      # vsensor-init.service; it is not started (it runs at the next boot of a new VM).
      "apt-get install -y --no-install-recommends /tmp/vsensor-init.deb",
      "rm -f /tmp/vsensor-init.deb",
      "systemctl is-enabled vsensor-init.service",
      # The agent's journal lines (SYSLOG_IDENTIFIER=vsensor-init, facility daemon)
      # reach the Log Analytics workspace through syslog: journald forwards to rsyslog,
      # which the Azure Monitor agent configures for the data collection rule's
      # facilities. Ubuntu's server image has both; this makes sure of it.
      "apt-get install -y --no-install-recommends rsyslog",
      "mkdir -p /etc/systemd/journald.conf.d",
      "printf '[Journal]\\nForwardToSyslog=yes\\n' > /etc/systemd/journald.conf.d/60-vsensor-init-syslog.conf",
      # cloud-init must not provision the VMs made from this image: vsensor-init does.
      "touch /etc/cloud/cloud-init.disabled",
      # waagent stays for VM extensions, without provisioning (it would race the ready
      # report and create the admin user a second time). The package's drop-in orders
      # walinuxagent.service after vsensor-init.service.
      "sed -i 's/^#\\{0,1\\}[[:space:]]*Provisioning.Agent=.*/Provisioning.Agent=disabled/' /etc/waagent.conf",
      "grep -q '^Provisioning.Agent=disabled' /etc/waagent.conf || echo 'Provisioning.Agent=disabled' >> /etc/waagent.conf",
      "grep -q '^Provisioning.Enabled=' /etc/waagent.conf && sed -i 's/^Provisioning.Enabled=.*/Provisioning.Enabled=n/' /etc/waagent.conf || true",
      # Forget this build VM: vsensor-init's state, marker and log, then waagent's
      # generalisation (users, SSH host keys, DHCP leases, its own state, history).
      "vsensor-init clean",
      "rm -rf /var/lib/cloud/instances /var/lib/cloud/instance /var/log/cloud-init*.log",
      "/usr/sbin/waagent -force -deprovision+user",
      "export HISTSIZE=0",
      "sync"
    ]
    # Output of `waagent -deprovision+user` ends the build user's session.
    skip_clean = true
  }
}
