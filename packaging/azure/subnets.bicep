// The subnets main.bicep adds to the existing Virtual Network, in that network's
// Resource Group (a module, as in azuredeploy.json's nested deployment).
param vnetName string
param subnetName string
param subnetCIDR string
param nsgId string
param natGatewayId string
param routeTableId string
param privateLinkEnable bool
param bastionEnable bool
param bastionSubnetCIDR string

resource vnet 'Microsoft.Network/virtualNetworks@2023-09-01' existing = {
  name: vnetName
}

resource vsensors 'Microsoft.Network/virtualNetworks/subnets@2023-09-01' = {
  parent: vnet
  name: subnetName
  properties: {
    addressPrefix: subnetCIDR
    networkSecurityGroup: { id: nsgId }
    natGateway: empty(natGatewayId) ? null : { id: natGatewayId }
    routeTable: empty(routeTableId) ? null : { id: routeTableId }
    privateLinkServiceNetworkPolicies: privateLinkEnable ? 'Disabled' : 'Enabled'
  }
}

// Subnets of one network are changed one at a time.
resource bastionSubnet 'Microsoft.Network/virtualNetworks/subnets@2023-09-01' = if (bastionEnable) {
  parent: vnet
  name: 'AzureBastionSubnet'
  properties: { addressPrefix: bastionSubnetCIDR }
  dependsOn: [ vsensors ]
}
