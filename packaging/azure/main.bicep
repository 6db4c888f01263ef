// Darktrace autoscaling vSensors from a custom image with vsensor-init baked in:
// the same deployment as azuredeploy.json. The vSensors configure themselves from
// customData (a vsensor-init.yaml(5) document built from the parameters): no
// CustomScript extension, no secret in any script. ARM/Bicep have no regular
// expressions: the decorators below mirror DESIGN.md's rules as far as they go,
// and vsensor-init validates the rest on first boot, reporting a bad value to
// Azure as ProvisioningFailed with the key's name.

@description('Up to 20 letters and digits prefixed to resource names.')
@minLength(1)
@maxLength(20)
param shortId string = take(resourceGroup().name, 20)

@description('Location of the new resources: the Virtual Network\'s.')
param location string = resourceGroup().location

@description('Availability zones for the vSensors.')
param zones array = [ '1', '2', '3' ]

@description('Resource id of the image with vsensor-init baked in (packaging/image/).')
@minLength(1)
param imageId string

@description('The existing Virtual Network to monitor.')
@minLength(2)
@maxLength(64)
param existingVirtualNetworkName string

@description('The Resource Group of the Virtual Network.')
@minLength(1)
@maxLength(90)
param existingVirtualNetworkResourceGroup string

@description('Deploy a NAT Gateway for the vSensors\' outbound traffic (the CDN, the master).')
param natGatewayEnable bool = true

@description('Without a NAT Gateway: an existing route table for the vSensor subnet (\'\' for none).')
param existingRouteTable string = ''

@description('The Resource Group of that route table.')
param existingRouteTableResourceGroup string = resourceGroup().name

@description('Deploy an Azure Bastion and its subnet.')
param bastionEnable bool = false

@description('Unused range of the Virtual Network for the Bastion subnet (/26 or larger); ignored without Bastion.')
@minLength(9)
@maxLength(18)
param bastionSubnetCIDR string = '10.0.1.0/26'

@description('Unused range of the Virtual Network for the vSensor subnet, e.g. 10.0.2.0/24. The load balancer takes its 4th and 5th addresses, the Private Link NAT IP its 6th.')
@minLength(9)
@maxLength(18)
param vmssSubnetCIDR string

@description('Comma-separated addresses or CIDR ranges allowed to SSH to the vSensors.')
@minLength(7)
param mgmtSourceAddressOrRange string

@description('vSensor VM size.')
@allowed([ 'Standard_B2ms', 'Standard_D2_v3', 'Standard_D2s_v3', 'Standard_D4_v3', 'Standard_D8_v3', 'Standard_D8s_v5', 'Standard_D16s_v5', 'Standard_D32s_v5' ])
param vmssInstanceSize string = 'Standard_D2s_v3'

@description('Fewest vSensors.')
@minValue(1)
@maxValue(100)
param vmssMinSize int = 1

@description('Most vSensors.')
@minValue(1)
@maxValue(100)
param vmssMaxSize int = 5

@description('Admin user created on each vSensor (SSH key only).')
@minLength(1)
@maxLength(32)
param adminUsername string

@description('SSH public key of the admin user.')
@minLength(64)
param adminPublicKey string

@description('Darktrace update key, KEY:SECRET of letters, digits, \'%\' and \'.\' (vsensor.update_key).')
@secure()
@minLength(3)
@maxLength(256)
param vSensorUpdateKey string

@description('FQDN, IPv4 or IPv6 address of the Darktrace master (vsensor.master.host).')
@minLength(1)
@maxLength(253)
param applianceHostName string

@description('Port of the Darktrace master (vsensor.master.port).')
@minValue(1)
@maxValue(65535)
param appliancePort int = 443

@description('Push token NAME:SECRET, NAME 4-64 letters, digits or \'-\', SECRET 5-63 letters or digits (vsensor.master.push_token).')
@secure()
@minLength(10)
@maxLength(128)
param appliancePushToken string

@description('Optional proxy towards the master, http://[USER:PASSWORD@]HOST:PORT; \'\' for none (vsensor.master.proxy).')
@secure()
@maxLength(2048)
param applianceProxy string = ''

@description('osSensor HMAC token, 6-62 letters or digits (vsensor.ossensor.hmac_token).')
@secure()
@minLength(6)
@maxLength(62)
param osSensorHMACToken string

@description('Days captured packets are kept in the blob container; 0: no PCAP storage (no vsensor.pcap).')
@minValue(0)
@maxValue(3650)
param pcapLifetimeDays int = 7

@description('Deploy a Private Link Service for osSensors outside the Virtual Network (vsensor.private_link).')
param privateLinkEnable bool = false

@description('Tags for every resource that takes them.')
param resourceTags object = {}

var prefix = toLower(shortId)
var vmssName = '${prefix}-vsensors'
var subnetName = '${prefix}-vsensors-subnet'
var subnetId = resourceId(existingVirtualNetworkResourceGroup, 'Microsoft.Network/virtualNetworks/subnets', existingVirtualNetworkName, subnetName)
var bastionSubnetId = resourceId(existingVirtualNetworkResourceGroup, 'Microsoft.Network/virtualNetworks/subnets', existingVirtualNetworkName, 'AzureBastionSubnet')
var pcapEnabled = pcapLifetimeDays > 0
var storageAccountName = 'dtpcap${uniqueString(resourceGroup().id, shortId)}'
var pcapContainerName = 'darktrace-vsensor-pcaps'
var osSensorFrontendIp = cidrHost(vmssSubnetCIDR, 3)
var privateLinkFrontendIp = cidrHost(vmssSubnetCIDR, 4)
var privateLinkNatIp = cidrHost(vmssSubnetCIDR, 5)
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

// The custom data, vsensor-init.yaml(5). Every string goes in single quotes with its
// single quotes doubled, so a value can only ever be a value: vsensor-init checks it
// against its rule. tools/render-customdata checks these formats are the ARM
// template's; keep them on one line each.
var customDataFormat = 'vsensor:\n  update_key: \'{0}\'\n  master:\n    host: \'{1}\'\n    port: {2}\n    push_token: \'{3}\'\n    proxy: \'{4}\'\n  ossensor:\n    hmac_token: \'{5}\'\n{6}  private_link:\n    enabled: {7}\n    nat_ip: \'{8}\'\n  ephemeral: true\n  os_updates: true\n'
var customDataPcapFormat = '  pcap:\n    storage_account: \'{0}\'\n    container: \'{1}\'\n'
var customData = format(customDataFormat, replace(vSensorUpdateKey, '\'', '\'\''), replace(applianceHostName, '\'', '\'\''), appliancePort, replace(appliancePushToken, '\'', '\'\''), replace(applianceProxy, '\'', '\'\''), replace(osSensorHMACToken, '\'', '\'\''), pcapEnabled ? format(customDataPcapFormat, storageAccountName, pcapContainerName) : '', privateLinkEnable, privateLinkNatIp)

var frontendOsSensor = [
  {
    name: 'osSensor'
    properties: { privateIPAllocationMethod: 'Static', privateIPAddress: osSensorFrontendIp, subnet: { id: subnetId } }
  }
]
var frontendPrivateLink = [
  {
    name: 'privateLink'
    properties: { privateIPAllocationMethod: 'Static', privateIPAddress: privateLinkFrontendIp, subnet: { id: subnetId } }
  }
]
var lbName = '${prefix}-vsensors-lb'
var lbRules = [for i in range(0, privateLinkEnable ? 4 : 2): {
  name: '${i < 2 ? 'osSensor' : 'privateLink'}-${i % 2 == 0 ? 'http' : 'https'}'
  properties: {
    frontendIPConfiguration: { id: resourceId('Microsoft.Network/loadBalancers/frontendIPConfigurations', lbName, i < 2 ? 'osSensor' : 'privateLink') }
    backendAddressPool: { id: resourceId('Microsoft.Network/loadBalancers/backendAddressPools', lbName, 'vsensors') }
    probe: { id: resourceId('Microsoft.Network/loadBalancers/probes', lbName, 'healthcheck') }
    protocol: 'Tcp'
    frontendPort: i % 2 == 0 ? 80 : 443
    backendPort: i % 2 == 0 ? 80 : 443
    idleTimeoutInMinutes: 15
  }
}]

resource nsg 'Microsoft.Network/networkSecurityGroups@2023-09-01' = {
  name: '${prefix}-vsensors-nsg'
  location: location
  tags: resourceTags
  properties: {
    securityRules: [
      {
        name: 'ssh-from-management'
        properties: { priority: 100, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '22', sourceAddressPrefixes: split(replace(mgmtSourceAddressOrRange, ' ', ''), ','), destinationAddressPrefix: vmssSubnetCIDR }
      }
      {
        name: 'ossensors-in'
        properties: { priority: 110, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRanges: [ '80', '443' ], sourceAddressPrefix: 'VirtualNetwork', destinationAddressPrefix: vmssSubnetCIDR }
      }
      {
        name: 'health-probes-in'
        properties: { priority: 120, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '443', sourceAddressPrefix: 'AzureLoadBalancer', destinationAddressPrefix: vmssSubnetCIDR }
      }
      {
        name: 'updates-and-master-out'
        properties: { priority: 100, direction: 'Outbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRanges: union([ '80', '443' ], [ string(appliancePort) ]), sourceAddressPrefix: vmssSubnetCIDR, destinationAddressPrefix: '*' }
      }
    ]
  }
}

resource natIp 'Microsoft.Network/publicIPAddresses@2023-09-01' = if (natGatewayEnable) {
  name: '${prefix}-vsensors-nat-ip'
  location: location
  tags: resourceTags
  sku: { name: 'Standard' }
  properties: { publicIPAllocationMethod: 'Static' }
}

resource natGateway 'Microsoft.Network/natGateways@2023-09-01' = if (natGatewayEnable) {
  name: '${prefix}-vsensors-nat'
  location: location
  tags: resourceTags
  sku: { name: 'Standard' }
  properties: { publicIpAddresses: [ { id: natIp.id } ] }
}

module subnets 'subnets.bicep' = {
  name: '${prefix}-subnets'
  scope: resourceGroup(existingVirtualNetworkResourceGroup)
  params: {
    vnetName: existingVirtualNetworkName
    subnetName: subnetName
    subnetCIDR: vmssSubnetCIDR
    nsgId: nsg.id
    natGatewayId: natGatewayEnable ? natGateway.id : ''
    routeTableId: (natGatewayEnable || empty(existingRouteTable)) ? '' : resourceId(existingRouteTableResourceGroup, 'Microsoft.Network/routeTables', existingRouteTable)
    privateLinkEnable: privateLinkEnable
    bastionEnable: bastionEnable
    bastionSubnetCIDR: bastionSubnetCIDR
  }
}

resource bastionIp 'Microsoft.Network/publicIPAddresses@2023-09-01' = if (bastionEnable) {
  name: '${prefix}-bastion-ip'
  location: location
  tags: resourceTags
  sku: { name: 'Standard' }
  properties: { publicIPAllocationMethod: 'Static' }
}

resource bastion 'Microsoft.Network/bastionHosts@2023-09-01' = if (bastionEnable) {
  name: '${prefix}-bastion'
  location: location
  tags: resourceTags
  properties: {
    ipConfigurations: [
      { name: 'bastion', properties: { subnet: { id: bastionSubnetId }, publicIPAddress: { id: bastionIp.id } } }
    ]
  }
  dependsOn: [ subnets ]
}

resource storage 'Microsoft.Storage/storageAccounts@2023-01-01' = if (pcapEnabled) {
  name: storageAccountName
  location: location
  tags: resourceTags
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: { minimumTlsVersion: 'TLS1_2', allowBlobPublicAccess: false, supportsHttpsTrafficOnly: true }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-01-01' existing = if (pcapEnabled) {
  parent: storage
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-01-01' = if (pcapEnabled) {
  parent: blobService
  name: pcapContainerName
  properties: { publicAccess: 'None' }
}

resource retention 'Microsoft.Storage/storageAccounts/managementPolicies@2023-01-01' = if (pcapEnabled) {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'pcap-retention'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: { blobTypes: [ 'blockBlob' ], prefixMatch: [ '${pcapContainerName}/' ] }
            actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: max(pcapLifetimeDays, 1) } } }
          }
        }
      ]
    }
  }
}

resource lb 'Microsoft.Network/loadBalancers@2023-09-01' = {
  name: lbName
  location: location
  tags: resourceTags
  sku: { name: 'Standard' }
  properties: {
    frontendIPConfigurations: privateLinkEnable ? concat(frontendOsSensor, frontendPrivateLink) : frontendOsSensor
    backendAddressPools: [ { name: 'vsensors' } ]
    probes: [
      { name: 'healthcheck', properties: { protocol: 'Https', port: 443, requestPath: '/healthcheck', intervalInSeconds: 15, numberOfProbes: 2 } }
    ]
    loadBalancingRules: lbRules
  }
  dependsOn: [ subnets ]
}

resource pls 'Microsoft.Network/privateLinkServices@2023-09-01' = if (privateLinkEnable) {
  name: '${prefix}-vsensors-pls'
  location: location
  tags: resourceTags
  properties: {
    enableProxyProtocol: true
    loadBalancerFrontendIpConfigurations: [ { id: resourceId('Microsoft.Network/loadBalancers/frontendIPConfigurations', lbName, 'privateLink') } ]
    ipConfigurations: [
      {
        name: 'nat'
        properties: { primary: true, privateIPAllocationMethod: 'Static', privateIPAddress: privateLinkNatIp, privateIPAddressVersion: 'IPv4', subnet: { id: subnetId } }
      }
    ]
  }
  dependsOn: [ lb ]
}

resource vmss 'Microsoft.Compute/virtualMachineScaleSets@2023-09-01' = {
  name: vmssName
  location: location
  tags: resourceTags
  zones: zones
  sku: { name: vmssInstanceSize, tier: 'Standard', capacity: vmssMinSize }
  identity: { type: 'SystemAssigned' }
  properties: {
    orchestrationMode: 'Uniform'
    overprovision: false
    upgradePolicy: { mode: 'Manual' }
    automaticRepairsPolicy: { enabled: true, gracePeriod: 'PT10M' }
    virtualMachineProfile: {
      storageProfile: {
        imageReference: { id: imageId }
        osDisk: { createOption: 'FromImage', caching: 'ReadWrite', managedDisk: { storageAccountType: 'StandardSSD_LRS' } }
      }
      osProfile: {
        computerNamePrefix: take(prefix, 9)
        adminUsername: adminUsername
        customData: base64(customData)
        linuxConfiguration: {
          disablePasswordAuthentication: true
          provisionVMAgent: true
          ssh: { publicKeys: [ { path: '/home/${adminUsername}/.ssh/authorized_keys', keyData: adminPublicKey } ] }
        }
      }
      networkProfile: {
        healthProbe: { id: resourceId('Microsoft.Network/loadBalancers/probes', lbName, 'healthcheck') }
        networkInterfaceConfigurations: [
          {
            name: 'nic'
            properties: {
              primary: true
              ipConfigurations: [
                {
                  name: 'ipconfig'
                  properties: {
                    subnet: { id: subnetId }
                    loadBalancerBackendAddressPools: [ { id: resourceId('Microsoft.Network/loadBalancers/backendAddressPools', lbName, 'vsensors') } ]
                  }
                }
              ]
            }
          }
        ]
      }
      diagnosticsProfile: { bootDiagnostics: { enabled: true } }
    }
  }
  dependsOn: [ lb, container ]
}

resource pcapWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (pcapEnabled) {
  scope: storage
  name: guid(storage.id, vmssName, storageBlobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: vmss.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource autoscale 'Microsoft.Insights/autoscalesettings@2022-10-01' = {
  name: '${vmssName}-autoscale'
  location: location
  tags: resourceTags
  properties: {
    enabled: true
    targetResourceUri: vmss.id
    profiles: [
      {
        name: 'cpu'
        capacity: { minimum: string(vmssMinSize), maximum: string(max(vmssMinSize, vmssMaxSize)), default: string(vmssMinSize) }
        rules: [
          {
            metricTrigger: { metricName: 'Percentage CPU', metricResourceUri: vmss.id, timeGrain: 'PT1M', statistic: 'Average', timeWindow: 'PT10M', timeAggregation: 'Average', operator: 'GreaterThan', threshold: 70 }
            scaleAction: { direction: 'Increase', type: 'ChangeCount', value: '1', cooldown: 'PT10M' }
          }
          {
            metricTrigger: { metricName: 'Percentage CPU', metricResourceUri: vmss.id, timeGrain: 'PT1M', statistic: 'Average', timeWindow: 'PT30M', timeAggregation: 'Average', operator: 'LessThan', threshold: 30 }
            scaleAction: { direction: 'Decrease', type: 'ChangeCount', value: '1', cooldown: 'PT30M' }
          }
        ]
      }
    ]
  }
}

output osSensorVsensorIP string = osSensorFrontendIp
output osSensorPrivateLinkService string = privateLinkEnable ? pls.name : ''
output pcapStorageAccount string = pcapEnabled ? storageAccountName : ''
