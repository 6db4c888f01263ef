// The subnets main.bicep adds to the existing Virtual Network, in that network's
// Resource Group (azuredeploy.json's nested deployment "PREFIX-subnets", inner scope).
param vnetName string
param subnetName string
param subnetCIDR string
param nsgId string
param natGatewayId string
param routeTableId string
param serviceEndpoints array
param serviceEndpointPolicyId string
param privateLinkEnable bool
param bastionEnable bool
param bastionSubnetCIDR string

resource vnet 'Microsoft.Network/virtualNetworks@2025-07-01' existing = {
  name: vnetName
}

resource vsensors 'Microsoft.Network/virtualNetworks/subnets@2025-07-01' = {
  parent: vnet
  name: subnetName
  properties: {
    addressPrefix: subnetCIDR
    networkSecurityGroup: { id: nsgId }
    natGateway: empty(natGatewayId) ? null : { id: natGatewayId }
    routeTable: empty(routeTableId) ? null : { id: routeTableId }
    serviceEndpoints: serviceEndpoints
    serviceEndpointPolicies: empty(serviceEndpointPolicyId) ? [] : [ { id: serviceEndpointPolicyId } ]
    privateLinkServiceNetworkPolicies: privateLinkEnable ? 'Disabled' : 'Enabled'
  }
}

// Subnets of one network are changed one at a time.
resource bastionSubnet 'Microsoft.Network/virtualNetworks/subnets@2025-07-01' = if (bastionEnable) {
  parent: vnet
  name: 'AzureBastionSubnet'
  properties: { addressPrefix: bastionSubnetCIDR }
  dependsOn: [ vsensors ]
}
