// Darktrace autoscaling vSensors from a custom image with vsensor-init baked in: the
// same deployment as azuredeploy.json (tools/check-template compares the two: the same
// parameters, resources, conditions, outputs and custom data formats). The vSensors
// configure themselves from customData (a vsensor-init.yaml(5) document built from
// the parameters): no CustomScript extension, no secret in any script. The
// parameters are Darktrace's quickstart's, same names and sentinels (same_RG, an
// empty shortID). ARM/Bicep have no regular expressions: the decorators mirror
// DESIGN.md's rules as far as they go, and vsensor-init validates the rest on first
// boot, reporting a bad value to Azure as ProvisioningFailed with the key's name.
// Every condition is a parameter or a variable of the same name as in the JSON.

@description('Location of the new resources: the Virtual Network\'s.')
param location string = resourceGroup().location

@description('Up to 20 letters and digits prefixed to resource names; \'\' for the first 20 characters of the resource group\'s name.')
@minLength(0)
@maxLength(20)
param shortID string = ''

@description('Availability zones for the vSensors, e.g. ["1","2","3"]; [] for a regional scale set (works in every region).')
param zones array = []

@description('Resource id of the image with vsensor-init baked in (packaging/image/): a managed image, or an Azure Compute Gallery image (latest version) or image version.')
@minLength(1)
param imageId string

@description('The existing Virtual Network to monitor, in the deployment\'s location.')
@minLength(2)
@maxLength(64)
param existingVirtualNetworkName string

@description('The Resource Group of the Virtual Network; same_RG for the deployment\'s.')
@minLength(1)
@maxLength(90)
param existingVirtualNetworkResourceGroup string = 'same_RG'

@description('Deploy a NAT Gateway for the vSensors\' outbound traffic (the CDN, the master).')
param natGatewayEnable bool = true

@description('Without a NAT Gateway: an existing route table for the vSensor subnet (\'\' for none).')
param existingRouteTable string = ''

@description('The Resource Group of that route table; same_RG for the deployment\'s.')
@minLength(1)
@maxLength(90)
param existingRouteTableResourceGroup string = 'same_RG'

@description('Deploy an Azure Bastion and its subnet (AzureBastionSubnet).')
param bastionEnable bool = false

@description('Unused range of the Virtual Network for the Bastion subnet (/26 or larger); ignored without Bastion.')
@minLength(0)
@maxLength(18)
param bastionSubnetCIDR string = ''

@description('Comma-separated addresses or CIDR ranges allowed to SSH to the vSensors; the vSensor subnet\'s CIDR for none.')
@minLength(7)
param MgmtSourceAddressOrRange string

@description('Unused range of the Virtual Network for the vSensor subnet, e.g. 10.0.2.0/24. The load balancer takes its 4th and 5th addresses, the Private Link NAT IP its 6th.')
@minLength(9)
@maxLength(18)
param VMSSSubnetCIDR string

@description('vSensor VM size. Darktrace\'s recommended sizes: Standard_B2ms, Standard_D2_v3, Standard_D2s_v3, Standard_D4_v3, Standard_D8_v3, Standard_D8s_v5, Standard_D16s_v5, Standard_D32s_v5; any size of the region is accepted.')
@minLength(1)
param VMSSInstanceSize string = 'Standard_D2s_v3'

@description('Fewest vSensors.')
@minValue(1)
@maxValue(100)
param VMSSMinSize int = 1

@description('Most vSensors.')
@minValue(1)
@maxValue(100)
param VMSSMaxSize int = 5

@description('Accelerated networking on the vSensors\' NIC (as Darktrace\'s template); false for sizes without it, e.g. Standard_B2ms.')
param acceleratedNetworking bool = true

@description('Admin user created on each vSensor (SSH key only).')
@minLength(1)
@maxLength(32)
param adminUsername string

@description('SSH public key of the admin user (password login is disabled).')
@minLength(64)
param adminPublicKey string

@description('Darktrace update key, KEY:SECRET of letters, digits, \'%\' and \'.\' (vsensor.update_key).')
@secure()
@minLength(3)
@maxLength(256)
param VSensorUpdateKey string

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
param OSSensorHMACToken string

@description('Days captured packets are kept in the blob container; 0: no PCAP storage (no vsensor.pcap).')
@minValue(0)
@maxValue(3650)
param PCAPLifetimeDays int = 7

@description('Deploy a Private Link Service (TCP PROXY v2 to the vSensors\' ports 81 and 444) for osSensors outside the Virtual Network (vsensor.private_link).')
param privateLinkEnable bool = false

@description('Where the vSensors read the update key, push token and HMAC token: customData (the values in the custom data) or keyVault (the values are stored in a Key Vault, the custom data holds only their URIs, the vSensors read them with their managed identity).')
@allowed([ 'customData', 'keyVault' ])
param secretsSource string = 'customData'

@description('With secretsSource keyVault: an existing Key Vault of the deployment\'s resource group, in RBAC mode, to store the secrets in; \'\' to create one.')
@maxLength(24)
param keyVaultName string = ''

@description('Optional resource id of a user-assigned managed identity for the scale set; with secretsSource keyVault the vSensors read the secrets with it (managed_identity.client_id), and the scale set is created only once it may.')
param userAssignedIdentityId string = ''

@description('How long a vSensor being scaled in gets to drain (the Terminate scheduled event\'s NotBefore), PT5M to PT15M.')
@allowed([ 'PT5M', 'PT6M', 'PT7M', 'PT8M', 'PT9M', 'PT10M', 'PT11M', 'PT12M', 'PT13M', 'PT14M', 'PT15M' ])
param terminateNotBeforeTimeout string = 'PT5M'

@description('Days the Log Analytics workspace keeps the vSensors\' logs and metrics.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Tags for every resource that takes them.')
param resourceTags object = {}
var prefix = toLower(empty(shortID) ? take(resourceGroup().name, 20) : shortID)
var vnetResourceGroup = existingVirtualNetworkResourceGroup == 'same_RG' ? resourceGroup().name : existingVirtualNetworkResourceGroup
var vnetOtherRg = toLower(vnetResourceGroup) != toLower(resourceGroup().name)
var routeTableResourceGroup = existingRouteTableResourceGroup == 'same_RG' ? resourceGroup().name : existingRouteTableResourceGroup
var vmssName = '${prefix}-vsensors'
var subnetName = '${prefix}-vsensors-subnet'
var subnetId = resourceId(vnetResourceGroup, 'Microsoft.Network/virtualNetworks/subnets', existingVirtualNetworkName, subnetName)
var bastionSubnetId = resourceId(vnetResourceGroup, 'Microsoft.Network/virtualNetworks/subnets', existingVirtualNetworkName, 'AzureBastionSubnet')
var lbName = '${prefix}-vsensors-lb'
var vsensorRoleName = guid(subscription().id, resourceGroup().id, vmssName, 'vsensor-role')
var pcapEnabled = PCAPLifetimeDays > 0
var storageAccountName = 'dtpcap${uniqueString(resourceGroup().id, prefix)}'
var pcapContainerName = 'darktrace-vsensor-pcaps'
var sepName = '${prefix}-vsensors-pcaps'
var keyVaultEnabled = secretsSource == 'keyVault'
var createKeyVault = keyVaultEnabled && empty(keyVaultName)
var kvName = empty(keyVaultName) ? 'vsensors${uniqueString(resourceGroup().id, prefix)}' : keyVaultName
var userIdentity = !empty(userAssignedIdentityId)
var kvSystemRole = keyVaultEnabled && !userIdentity
var kvUserRole = keyVaultEnabled && userIdentity
var serviceEndpoints = concat(pcapEnabled ? [ { service: 'Microsoft.Storage', locations: [ location ] } ] : [], createKeyVault ? [ { service: 'Microsoft.KeyVault' } ] : [])
var osSensorFrontendIp = cidrHost(VMSSSubnetCIDR, 3)
var privateLinkFrontendIp = cidrHost(VMSSSubnetCIDR, 4)
var privateLinkNatIp = cidrHost(VMSSSubnetCIDR, 5)
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var storageAccountContributor = '17d1049b-9a84-46fb-8f53-869881c3d3ab'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var inboundPorts = privateLinkEnable ? [ '80', '81', '443', '444' ] : [ '80', '443' ]

// The custom data, vsensor-init.yaml(5). Every string goes in single quotes with its
// single quotes doubled, so a value can only ever be a value: vsensor-init checks it
// against its rule. A secret is such a string, or with secretsSource keyVault the
// mapping {key_vault: 'URI'}. tools/check-template checks these formats are the ARM
// template's; keep them on one line each.
var customDataFormat = 'vsensor:\n  update_key: {0}\n  master:\n    host: \'{1}\'\n    port: {2}\n    push_token: {3}\n    proxy: \'{4}\'\n  ossensor:\n    hmac_token: {5}\n{6}  private_link:\n    enabled: {7}\n    nat_ip: \'{8}\'\n{9}  ephemeral: true\n  os_updates: true\n'
var customDataPcapFormat = '  pcap:\n    storage_account: \'{0}\'\n    container: \'{1}\'\n'
var customDataIdentityFormat = '  managed_identity:\n    client_id: \'{0}\'\n'
var secretValueFormat = '\'{0}\''
var secretRefFormat = '{{key_vault: \'{0}\'}}'
var secretUriFormat = 'https://{0}{1}/secrets/{2}'
var updateKeyYaml = keyVaultEnabled ? format(secretRefFormat, format(secretUriFormat, kvName, environment().suffixes.keyvaultDns, 'vsensor-update-key')) : format(secretValueFormat, replace(VSensorUpdateKey, '\'', '\'\''))
var pushTokenYaml = keyVaultEnabled ? format(secretRefFormat, format(secretUriFormat, kvName, environment().suffixes.keyvaultDns, 'vsensor-push-token')) : format(secretValueFormat, replace(appliancePushToken, '\'', '\'\''))
var hmacTokenYaml = keyVaultEnabled ? format(secretRefFormat, format(secretUriFormat, kvName, environment().suffixes.keyvaultDns, 'vsensor-hmac-token')) : format(secretValueFormat, replace(OSSensorHMACToken, '\'', '\'\''))
var customDataPcap = pcapEnabled ? format(customDataPcapFormat, storageAccountName, pcapContainerName) : ''

var nsgRulesBase = [
  {
    name: 'ssh-from-management'
    properties: { priority: 100, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '22', sourceAddressPrefixes: split(replace(MgmtSourceAddressOrRange, ' ', ''), ','), destinationAddressPrefix: VMSSSubnetCIDR }
  }
  {
    name: 'ossensors-in'
    properties: { description: 'osSensors: HTTP and HTTPS, and with Private Link their TCP PROXY v2 ports 81 and 444.', priority: 110, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRanges: inboundPorts, sourceAddressPrefix: 'VirtualNetwork', destinationAddressPrefix: VMSSSubnetCIDR }
  }
  {
    name: 'health-probes-in'
    properties: { priority: 120, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRanges: inboundPorts, sourceAddressPrefix: 'AzureLoadBalancer', destinationAddressPrefix: VMSSSubnetCIDR }
  }
  {
    name: 'DenyAllIn'
    properties: { description: 'Everything the rules above do not allow, including the default AllowVnetInBound.', priority: 4095, direction: 'Inbound', access: 'Deny', protocol: '*', sourcePortRange: '*', destinationPortRange: '*', sourceAddressPrefix: '*', destinationAddressPrefix: '*' }
  }
  {
    name: 'updates-and-master-out'
    properties: { description: 'The Darktrace CDN, the Ubuntu archive, Azure services (Monitor, Storage, Key Vault) and the master: one rule, so a master port other than 443 takes no priority of its own.', priority: 100, direction: 'Outbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRanges: union([ '80', '443' ], [ string(appliancePort) ]), sourceAddressPrefix: VMSSSubnetCIDR, destinationAddressPrefix: '*' }
  }
  {
    name: 'DenyOutboundInternet'
    properties: { description: 'The rest of the Internet.', priority: 4096, direction: 'Outbound', access: 'Deny', protocol: '*', sourcePortRange: '*', destinationPortRange: '*', sourceAddressPrefix: '*', destinationAddressPrefix: 'Internet' }
  }
]
var nsgRuleBastion = [
  {
    name: 'ssh-from-bastion'
    properties: { priority: 130, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '22', sourceAddressPrefix: bastionSubnetCIDR, destinationAddressPrefix: VMSSSubnetCIDR }
  }
]

var frontendOsSensor = [
  {
    name: 'osSensor'
    properties: { privateIPAllocationMethod: 'Static', privateIPAddress: osSensorFrontendIp, privateIPAddressVersion: 'IPv4', subnet: { id: subnetId } }
  }
]
var frontendPrivateLink = [
  {
    name: 'privateLink'
    properties: { privateIPAllocationMethod: 'Static', privateIPAddress: privateLinkFrontendIp, privateIPAddressVersion: 'IPv4', subnet: { id: subnetId } }
  }
]
// Private Link's traffic carries a TCP PROXY v2 header: it goes to the vSensor's
// ports 81 and 444, the osSensors' own to 80 and 443.
var lbPorts = [
  { frontend: 'osSensor', name: 'osSensor-http', frontendPort: 80, backendPort: 80, probe: 'http-80', probeProtocol: 'Http' }
  { frontend: 'osSensor', name: 'osSensor-https', frontendPort: 443, backendPort: 443, probe: 'https-443', probeProtocol: 'Https' }
  { frontend: 'privateLink', name: 'privateLink-http', frontendPort: 80, backendPort: 81, probe: 'http-81', probeProtocol: 'Http' }
  { frontend: 'privateLink', name: 'privateLink-https', frontendPort: 443, backendPort: 444, probe: 'https-444', probeProtocol: 'Https' }
]
var lbRules = [for i in range(0, privateLinkEnable ? 4 : 2): {
  name: lbPorts[i].name
  properties: {
    frontendIPConfiguration: { id: resourceId('Microsoft.Network/loadBalancers/frontendIPConfigurations', lbName, lbPorts[i].frontend) }
    backendAddressPool: { id: resourceId('Microsoft.Network/loadBalancers/backendAddressPools', lbName, 'vsensors') }
    probe: { id: resourceId('Microsoft.Network/loadBalancers/probes', lbName, lbPorts[i].probe) }
    protocol: 'Tcp'
    frontendPort: lbPorts[i].frontendPort
    backendPort: lbPorts[i].backendPort
    // Through Private Link an osSensor stays with one vSensor (Darktrace's choice).
    loadDistribution: privateLinkEnable ? 'SourceIP' : 'Default'
    idleTimeoutInMinutes: 15
  }
}]
var lbProbes = [for i in range(0, privateLinkEnable ? 4 : 2): {
  name: lbPorts[i].probe
  properties: { protocol: lbPorts[i].probeProtocol, port: lbPorts[i].backendPort, requestPath: '/healthcheck', intervalInSeconds: 15, numberOfProbes: 2, probeThreshold: 2 }
}]

resource nsg 'Microsoft.Network/networkSecurityGroups@2025-07-01' = {
  name: '${prefix}-vsensors-nsg'
  location: location
  tags: resourceTags
  properties: {
    securityRules: concat(nsgRulesBase, bastionEnable ? nsgRuleBastion : [])
  }
}

resource natIp 'Microsoft.Network/publicIPAddresses@2025-07-01' = if (natGatewayEnable) {
  name: '${prefix}-vsensors-nat-ip'
  location: location
  tags: resourceTags
  sku: { name: 'Standard' }
  properties: { publicIPAddressVersion: 'IPv4', publicIPAllocationMethod: 'Static' }
}

resource natGateway 'Microsoft.Network/natGateways@2025-07-01' = if (natGatewayEnable) {
  name: '${prefix}-vsensors-nat'
  location: location
  tags: resourceTags
  sku: { name: 'Standard' }
  properties: { idleTimeoutInMinutes: 4, publicIpAddresses: [ { id: natIp.id } ] }
}

// The policy first, empty: the subnet needs it, the storage account needs the subnet,
// and the policy's definition needs the account.
resource sep 'Microsoft.Network/serviceEndpointPolicies@2025-07-01' = if (pcapEnabled) {
  name: sepName
  location: location
  tags: resourceTags
  properties: {}
}

module subnets 'subnets.bicep' = {
  name: '${prefix}-subnets'
  scope: resourceGroup(vnetResourceGroup)
  params: {
    vnetName: existingVirtualNetworkName
    subnetName: subnetName
    subnetCIDR: VMSSSubnetCIDR
    nsgId: nsg.id
    natGatewayId: natGatewayEnable ? natGateway.id : ''
    routeTableId: (natGatewayEnable || empty(existingRouteTable)) ? '' : resourceId(routeTableResourceGroup, 'Microsoft.Network/routeTables', existingRouteTable)
    serviceEndpoints: serviceEndpoints
    serviceEndpointPolicyId: pcapEnabled ? sep.id : ''
    privateLinkEnable: privateLinkEnable
    bastionEnable: bastionEnable
    bastionSubnetCIDR: bastionSubnetCIDR
  }
}

resource bastionIp 'Microsoft.Network/publicIPAddresses@2025-07-01' = if (bastionEnable) {
  name: '${prefix}-bastion-ip'
  location: location
  tags: resourceTags
  sku: { name: 'Standard' }
  properties: { publicIPAddressVersion: 'IPv4', publicIPAllocationMethod: 'Static' }
}

resource bastion 'Microsoft.Network/bastionHosts@2025-07-01' = if (bastionEnable) {
  name: '${prefix}-bastion'
  location: location
  tags: resourceTags
  sku: { name: 'Standard' }
  properties: {
    enableTunneling: true
    ipConfigurations: [
      { name: 'bastion', properties: { subnet: { id: bastionSubnetId }, publicIPAddress: { id: bastionIp.id } } }
    ]
  }
  dependsOn: [ subnets ]
}

resource storage 'Microsoft.Storage/storageAccounts@2026-04-01' = if (pcapEnabled) {
  name: storageAccountName
  location: location
  tags: resourceTags
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    supportsHttpsTrafficOnly: true
    isNfsV3Enabled: false
    isSftpEnabled: false
    publicNetworkAccess: 'Enabled'
    networkAcls: { bypass: 'AzureServices', defaultAction: 'Deny', virtualNetworkRules: [ { id: subnetId, action: 'Allow' } ] }
  }
  dependsOn: [ subnets ]
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' = if (pcapEnabled) {
  name: '${storageAccountName}/default/${pcapContainerName}'
  properties: { publicAccess: 'None' }
  dependsOn: [ storage ]
}

// Ages the PCAP data and index only, as Darktrace's template does.
resource retention 'Microsoft.Storage/storageAccounts/managementPolicies@2026-04-01' = if (pcapEnabled) {
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
            filters: { blobTypes: [ 'blockBlob' ], prefixMatch: [ '${pcapContainerName}/chronicle/data/', '${pcapContainerName}/chronicle/index/bundle/' ] }
            actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: PCAPLifetimeDays } } }
          }
        }
      ]
    }
  }
}

resource sepDefinition 'Microsoft.Network/serviceEndpointPolicies/serviceEndpointPolicyDefinitions@2025-07-01' = if (pcapEnabled) {
  parent: sep
  name: 'Microsoft.Storage'
  properties: {
    description: 'The vSensor subnet\'s storage service endpoint reaches the PCAP account only.'
    service: 'Microsoft.Storage'
    serviceResources: [ storage.id ]
  }
}

resource newVault 'Microsoft.KeyVault/vaults@2026-02-01' = if (createKeyVault) {
  name: kvName
  location: location
  tags: resourceTags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enabledForDeployment: false
    enabledForTemplateDeployment: false
    enabledForDiskEncryption: false
    publicNetworkAccess: 'Enabled'
    networkAcls: { bypass: 'AzureServices', defaultAction: 'Deny', virtualNetworkRules: [ { id: subnetId, ignoreMissingVnetServiceEndpoint: false } ] }
  }
  dependsOn: [ subnets ]
}

// The vault the secrets go to: the new one, or keyVaultName of this resource group.
resource vault 'Microsoft.KeyVault/vaults@2026-02-01' existing = if (keyVaultEnabled) {
  name: kvName
}

resource secretUpdateKey 'Microsoft.KeyVault/vaults/secrets@2026-02-01' = if (keyVaultEnabled) {
  parent: vault
  name: 'vsensor-update-key'
  properties: { value: VSensorUpdateKey, contentType: 'Darktrace update key (vsensor.update_key)' }
  dependsOn: [ newVault ]
}

resource secretPushToken 'Microsoft.KeyVault/vaults/secrets@2026-02-01' = if (keyVaultEnabled) {
  parent: vault
  name: 'vsensor-push-token'
  properties: { value: appliancePushToken, contentType: 'Darktrace push token (vsensor.master.push_token)' }
  dependsOn: [ newVault ]
}

resource secretHmacToken 'Microsoft.KeyVault/vaults/secrets@2026-02-01' = if (keyVaultEnabled) {
  parent: vault
  name: 'vsensor-hmac-token'
  properties: { value: OSSensorHMACToken, contentType: 'osSensor HMAC token (vsensor.ossensor.hmac_token)' }
  dependsOn: [ newVault ]
}

// A user-assigned identity exists before the scale set: its role comes first, and the
// scale set waits for it.
resource kvUserReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kvUserRole) {
  scope: vault
  name: guid(resourceId('Microsoft.KeyVault/vaults', kvName), userAssignedIdentityId, keyVaultSecretsUser)
  properties: {
    description: 'The vSensors read their secrets with this identity.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: reference(userAssignedIdentityId, '2024-11-30').principalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [ newVault ]
}

resource lb 'Microsoft.Network/loadBalancers@2025-07-01' = {
  name: lbName
  location: location
  tags: resourceTags
  sku: { name: 'Standard' }
  properties: {
    frontendIPConfigurations: privateLinkEnable ? concat(frontendOsSensor, frontendPrivateLink) : frontendOsSensor
    backendAddressPools: [ { name: 'vsensors' } ]
    probes: lbProbes
    loadBalancingRules: lbRules
  }
  dependsOn: [ subnets ]
}

resource pls 'Microsoft.Network/privateLinkServices@2025-07-01' = if (privateLinkEnable) {
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
  dependsOn: [ lb, subnets ]
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-07-01' = {
  name: '${prefix}-vsensors-logs'
  location: location
  tags: resourceTags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: logRetentionDays
    features: { enableLogAccessUsingOnlyResourcePermissions: true, disableLocalAuth: true }
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource dcr 'Microsoft.Insights/dataCollectionRules@2024-03-11' = {
  name: '${prefix}-vsensors-dcr'
  location: location
  tags: resourceTags
  kind: 'Linux'
  properties: {
    description: 'The vSensors\' syslog (vsensor-init logs as SYSLOG_IDENTIFIER vsensor-init, facility daemon) and VM Insights metrics.'
    dataSources: {
      syslog: [
        {
          name: 'syslog'
          streams: [ 'Microsoft-Syslog' ]
          facilityNames: [ 'auth', 'authpriv', 'cron', 'daemon', 'mark', 'kern', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7', 'lpr', 'mail', 'news', 'syslog', 'user', 'uucp' ]
          logLevels: [ 'Debug', 'Info', 'Notice', 'Warning', 'Error', 'Critical', 'Alert', 'Emergency' ]
        }
      ]
      performanceCounters: [
        {
          name: 'vmInsightsPerfCounters'
          streams: [ 'Microsoft-InsightsMetrics' ]
          samplingFrequencyInSeconds: 60
          counterSpecifiers: [ '\\VmInsights\\DetailedMetrics' ]
        }
      ]
    }
    destinations: { logAnalytics: [ { name: 'workspace', workspaceResourceId: workspace.id } ] }
    dataFlows: [
      { streams: [ 'Microsoft-Syslog' ], destinations: [ 'workspace' ] }
      { streams: [ 'Microsoft-InsightsMetrics' ], destinations: [ 'workspace' ] }
    ]
  }
}

resource vmss 'Microsoft.Compute/virtualMachineScaleSets@2026-03-01' = {
  name: vmssName
  location: location
  tags: resourceTags
  zones: zones
  sku: { name: VMSSInstanceSize, tier: 'Standard', capacity: VMSSMinSize }
  identity: {
    type: userIdentity ? 'SystemAssigned, UserAssigned' : 'SystemAssigned'
    userAssignedIdentities: userIdentity ? { '${userAssignedIdentityId}': {} } : null
  }
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
        customData: base64(format(customDataFormat, updateKeyYaml, replace(applianceHostName, '\'', '\'\''), appliancePort, pushTokenYaml, replace(applianceProxy, '\'', '\'\''), hmacTokenYaml, customDataPcap, privateLinkEnable, privateLinkNatIp, userIdentity ? format(customDataIdentityFormat, reference(userAssignedIdentityId, '2024-11-30').clientId) : ''))
        linuxConfiguration: {
          disablePasswordAuthentication: true
          provisionVMAgent: true
          ssh: { publicKeys: [ { path: '/home/${adminUsername}/.ssh/authorized_keys', keyData: adminPublicKey } ] }
        }
      }
      // vsensor-init watch drains a vSensor on its Terminate event (DESIGN.md "Scale-in").
      scheduledEventsProfile: {
        terminateNotificationProfile: { enable: true, notBeforeTimeout: terminateNotBeforeTimeout }
      }
      networkProfile: {
        healthProbe: { id: resourceId('Microsoft.Network/loadBalancers/probes', lbName, 'https-443') }
        networkInterfaceConfigurations: [
          {
            name: 'nic'
            properties: {
              primary: true
              enableAcceleratedNetworking: acceleratedNetworking
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
      // The Azure Monitor agent sends the syslog (vsensor-init's journal lines) and
      // metrics to the workspace; not a script, no settings.
      extensionProfile: {
        extensions: [
          {
            name: 'AzureMonitorLinuxAgent'
            properties: { publisher: 'Microsoft.Azure.Monitor', type: 'AzureMonitorLinuxAgent', typeHandlerVersion: '1.5', autoUpgradeMinorVersion: true, enableAutomaticUpgrade: true, settings: {} }
          }
        ]
      }
      diagnosticsProfile: { bootDiagnostics: { enabled: true } }
    }
  }
  // The static IPs of the subnet (load balancer, Private Link NAT) before any instance
  // can take one; the secrets and the user-assigned identity's role before any reads.
  dependsOn: [ lb, pls, subnets, container, sepDefinition, secretUpdateKey, secretPushToken, secretHmacToken, kvUserReader ]
}

resource dcrAssociation 'Microsoft.Insights/dataCollectionRuleAssociations@2024-03-11' = {
  scope: vmss
  name: '${dcr.name}-assoc'
  properties: {
    description: 'The vSensors\' logs and metrics to the deployment\'s Log Analytics workspace.'
    dataCollectionRuleId: dcr.id
  }
}

// The scale set's own identity is known only once it exists: the vSensors retry the
// vault's 403 until the assignment reaches it (DESIGN.md, key_vault.deadline).
resource kvSystemReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kvSystemRole) {
  scope: vault
  name: guid(resourceId('Microsoft.KeyVault/vaults', kvName), vmssName, keyVaultSecretsUser)
  properties: {
    description: 'The vSensors read their secrets with the scale set\'s identity; until this assignment reaches the vault they retry (DESIGN.md: 403 is retried until key_vault.deadline).'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: vmss.identity.principalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [ newVault ]
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

resource pcapAccountContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (pcapEnabled) {
  scope: storage
  name: guid(storage.id, vmssName, storageAccountContributor)
  properties: {
    description: 'As Darktrace\'s template: the vSensor manages the PCAP account it writes to.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageAccountContributor)
    principalId: vmss.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource vsensorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: vsensorRoleName
  properties: {
    roleName: '${vmssName} vSensor Role (${uniqueString(resourceGroup().id)})'
    description: 'Lets the Darktrace vSensors discover network properties for cloud tracking: read VMs, scale sets, virtual networks and NICs.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Compute/virtualMachines/read'
          'Microsoft.Compute/virtualMachineScaleSets/read'
          'Microsoft.Network/virtualNetworks/read'
          'Microsoft.Network/networkInterfaces/read'
        ]
        notActions: []
      }
    ]
    assignableScopes: vnetOtherRg ? [ resourceGroup().id, '${subscription().id}/resourceGroups/${vnetResourceGroup}' ] : [ resourceGroup().id ]
  }
}

resource vsensorRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, vmssName, 'vsensor-role')
  properties: {
    description: 'The vSensors read the deployment\'s VMs, scale sets, virtual networks and NICs (Darktrace cloud tracking).'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', vsensorRole.name)
    principalId: vmss.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

module vnetRole 'vnet-role.bicep' = if (vnetOtherRg) {
  name: '${prefix}-vnet-role'
  scope: resourceGroup(vnetResourceGroup)
  params: {
    vmssName: vmssName
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', vsensorRole.name)
    principalId: vmss.identity.principalId
  }
}

resource autoscale 'Microsoft.Insights/autoscalesettings@2022-10-01' = {
  name: '${vmssName}-autoscale'
  location: location
  tags: resourceTags
  properties: {
    enabled: true
    targetResourceUri: vmss.id
    // As Darktrace's: scales out ahead of a daily pattern once it has seen one.
    predictiveAutoscalePolicy: { scaleMode: 'Enabled', scaleLookAheadTime: 'PT5M' }
    profiles: [
      {
        name: 'cpu'
        capacity: { minimum: string(VMSSMinSize), maximum: string(max(VMSSMinSize, VMSSMaxSize)), default: string(VMSSMinSize) }
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

output vnetName string = existingVirtualNetworkName
output vSensorSubnetCIDR string = VMSSSubnetCIDR
output osSensorVsensorCIDR string = VMSSSubnetCIDR
output bastionSubnetCIDR string = bastionEnable ? bastionSubnetCIDR : ''
output osSensorVsensorIP string = osSensorFrontendIp
output osSensorPrivateLinkService string = privateLinkEnable ? pls.name : ''
output osSensorPrivateLinkServiceId string = privateLinkEnable ? pls.id : ''
output natExternalIP string = natGatewayEnable ? natIp.properties.ipAddress : ''
output pcapStorageAccount string = pcapEnabled ? storageAccountName : ''
output pcapContainer string = pcapEnabled ? '${storageAccountName}/${pcapContainerName}' : ''
output logAnalyticsWorkspaceId string = workspace.id
output keyVaultName string = keyVaultEnabled ? kvName : ''
