# Packer template: an Ubuntu 24.04 LTS Azure image with vsensor-init baked in, for the
# scale set of packaging/azure/. See README.md beside this file.
#
#   packer init vsensor-image.pkr.hcl
#   packer build -var subscription_id=... -var resource_group=... \
#                -var deb=../../build/deb/vsensor-init_0.1.0_amd64.deb vsensor-image.pkr.hcl
#
# The build VM is provisioned by cloud-init and waagent as usual; the recipe then hands
# provisioning of every VM made from the image to vsensor-init.

packer {
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
  description = "Resource group that receives the managed image."
}
variable "location" {
  type    = string
  default = "westeurope"
}
variable "image_name" {
  type    = string
  default = "vsensor-init-ubuntu-2404"
}
variable "vm_size" {
  type    = string
  default = "Standard_D2s_v3"
}
variable "deb" {
  type        = string
  description = "Path of the vsensor-init .deb built by `make deb`."
}

source "azure-arm" "ubuntu" {
  use_azure_cli_auth                = true
  subscription_id                   = var.subscription_id
  location                          = var.location
  vm_size                           = var.vm_size
  os_type                           = "Linux"
  image_publisher                   = "Canonical"
  image_offer                       = "ubuntu-24_04-lts"
  image_sku                         = "server"
  managed_image_name                = var.image_name
  managed_image_resource_group_name = var.resource_group
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
